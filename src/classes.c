/*
 * classes.c — the class table of models and label maps: the "classes" JSON metadata
 * ([{"id": 1, "name": "Fallow", "color": "#a0522d"}, ...]) and default colours.
 *
 * A model file is untrusted input: every field is checked (ids integers in 1..65535 and distinct,
 * names short enough, colours well formed) and a fault names the entry.
 */
#include "cropnet.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Twenty colours that stay apart on a map (Kelly's and Glasbey's sets, dark ones left out). */
static const uint8_t palette[20][3] = {
    {230, 25, 75},  {60, 180, 75},   {255, 225, 25}, {0, 130, 200},   {245, 130, 48},
    {145, 30, 180}, {70, 240, 240},  {240, 50, 230}, {210, 245, 60},  {250, 190, 212},
    {0, 128, 128},  {220, 190, 255}, {170, 110, 40}, {255, 250, 200}, {128, 0, 0},
    {170, 255, 195}, {128, 128, 0},  {255, 215, 180}, {0, 0, 128},    {128, 128, 128},
};

void cn_class_default_rgb(int id, uint8_t rgb[3])
{
    if (id <= 0) {
        rgb[0] = rgb[1] = rgb[2] = 0;
        return;
    }
    if (id <= 20) {
        memcpy(rgb, palette[id - 1], 3);
        return;
    }
    /* hue stepped by the golden ratio: neighbouring ids land far apart on the colour wheel */
    double h = fmod(id * 0.6180339887498949, 1.0) * 6.0, s = 0.55 + 0.3 * ((id / 7) % 2),
           v = 0.95 - 0.25 * ((id / 3) % 2);
    int sector = (int)h;
    double f = h - sector, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    double c[6][3] = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}};
    for (int i = 0; i < 3; i++)
        rgb[i] = (uint8_t)lround(c[sector % 6][i] * 255.0);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static bool parse_color(const char *s, uint8_t rgb[3])
{
    if (strlen(s) != 7 || s[0] != '#')
        return false;
    for (int i = 0; i < 3; i++) {
        int hi = hexval(s[1 + 2 * i]), lo = hexval(s[2 + 2 * i]);
        if (hi < 0 || lo < 0)
            return false;
        rgb[i] = (uint8_t)(hi * 16 + lo);
    }
    return true;
}

static cn_status parse_entry(json_t *e, size_t i, cn_class_info *c)
{
    if (!json_is_object(e))
        return cn_set_error(CN_EFORMAT, "classes: entry %zu is not an object", i + 1);
    json_t *id = json_object_get(e, "id"), *name = json_object_get(e, "name"),
           *color = json_object_get(e, "color");
    if (!json_is_integer(id) || json_integer_value(id) < 1 ||
        json_integer_value(id) > CN_CLASS_ID_MAX)
        return cn_set_error(CN_EFORMAT, "classes: entry %zu: \"id\" must be an integer in 1..%d",
                            i + 1, CN_CLASS_ID_MAX);
    c->id = (int)json_integer_value(id);
    c->name[0] = '\0';
    if (name) {
        if (!json_is_string(name) || json_string_length(name) >= CN_CLASS_NAME_MAX ||
            strlen(json_string_value(name)) != json_string_length(name))
            return cn_set_error(CN_EFORMAT, "classes: entry %zu: \"name\" must be a string of "
                                "fewer than %d bytes", i + 1, CN_CLASS_NAME_MAX);
        memcpy(c->name, json_string_value(name), json_string_length(name) + 1);
    }
    if (color) {
        if (!json_is_string(color) || !parse_color(json_string_value(color), c->rgb))
            return cn_set_error(CN_EFORMAT, "classes: entry %zu: \"color\" must be \"#rrggbb\"",
                                i + 1);
    } else {
        cn_class_default_rgb(c->id, c->rgb);
    }
    return CN_OK;
}

cn_status cn_classes_from_json(const char *text, cn_class_info **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    json_error_t jerr;
    json_t *root = json_loads(text ? text : "", JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return cn_set_error(CN_EFORMAT, "classes: not JSON: %s", jerr.text);
    size_t n = json_is_array(root) ? json_array_size(root) : 0;
    if (n == 0 || n > CN_CLASS_ID_MAX) {
        json_decref(root);
        return cn_set_error(CN_EFORMAT, "classes: must be a JSON array of 1 to %d classes",
                            CN_CLASS_ID_MAX);
    }
    cn_class_info *c = calloc(n, sizeof *c);
    uint8_t *seen = calloc(CN_CLASS_ID_MAX + 1, 1);
    cn_status st = c && seen ? CN_OK : cn_set_error(CN_ENOMEM, "classes: out of memory");
    for (size_t i = 0; !st && i < n; i++) {
        st = parse_entry(json_array_get(root, i), i, &c[i]);
        if (!st && seen[c[i].id]++)
            st = cn_set_error(CN_EFORMAT, "classes: id %d appears twice", c[i].id);
    }
    json_decref(root);
    free(seen);
    if (st) {
        free(c);
        return st;
    }
    *out = c;
    *count = n;
    return CN_OK;
}

cn_status cn_classes_to_json(const cn_class_info *classes, size_t count, char **out)
{
    *out = NULL;
    json_t *root = json_array();
    cn_status st = root ? CN_OK : cn_set_error(CN_ENOMEM, "classes: out of memory");
    for (size_t i = 0; !st && i < count; i++) {
        const cn_class_info *c = &classes[i];
        if (c->id < 1 || c->id > CN_CLASS_ID_MAX || !memchr(c->name, '\0', CN_CLASS_NAME_MAX)) {
            st = cn_set_error(CN_EINVAL, "classes: entry %zu: id %d not in 1..%d or name not "
                              "terminated", i + 1, c->id, CN_CLASS_ID_MAX);
            break;
        }
        char color[8];
        snprintf(color, sizeof color, "#%02x%02x%02x", c->rgb[0], c->rgb[1], c->rgb[2]);
        json_t *e = json_pack("{s:i, s:s, s:s}", "id", c->id, "name", c->name, "color", color);
        if (!e || json_array_append_new(root, e) != 0)
            st = cn_set_error(CN_EINVAL, "classes: entry %zu: cannot format it (is the name "
                              "UTF-8?)", i + 1);
    }
    if (!st && !(*out = json_dumps(root, JSON_COMPACT)))
        st = cn_set_error(CN_ENOMEM, "classes: out of memory");
    json_decref(root);
    return st;
}
