#!/usr/bin/python3
"""scikit-learn's KMeans on the data a cropnet test wrote, for tests/lua/cluster_sklearn_spec.lua.

  kmeans_vs_sklearn.py CASE...     CASE = DATA.f32,N,D,K,INIT.f32|k-means++,MAX_ITER,TOL,SEED

DATA.f32 holds N x D little-endian float32 values (row-major); INIT.f32 k x D initial centroids,
or "k-means++" for scikit-learn's own initialisation (seeded by SEED). For each case, fits
KMeans(n_clusters=K, init=..., n_init=1, max_iter=MAX_ITER, tol=TOL, algorithm="lloyd") and
prints "case I" then, one per line: "n_iter N", "inertia X", "labels l1 l2 ...",
"centers c11 c12 ...". One process for all cases: importing scikit-learn is the slow part.
Run with Debian's /usr/bin/python3 (python3-sklearn, python3-numpy); exits with status 3 and a
message naming the package when scikit-learn cannot be imported. Installs nothing.
"""
import sys

try:
    import numpy as np
    from sklearn.cluster import KMeans
except ImportError as e:
    sys.stderr.write("kmeans_vs_sklearn: cannot import scikit-learn (%s): install python3-sklearn "
                     "and python3-numpy (tools/setup does)\n" % e)
    sys.exit(3)


def fit(case):
    path, n, d, k, init, max_iter, tol, seed = case.split(",")
    n, d, k, max_iter, tol, seed = int(n), int(d), int(k), int(max_iter), float(tol), int(seed)
    x = np.fromfile(path, dtype="<f4").reshape(n, d)
    if init != "k-means++":
        init = np.fromfile(init, dtype="<f4").reshape(k, d)
    km = KMeans(n_clusters=k, init=init, n_init=1, max_iter=max_iter, tol=tol,
                algorithm="lloyd", random_state=seed).fit(x)
    print("n_iter %d" % km.n_iter_)
    print("inertia %.17g" % km.inertia_)
    print("labels " + " ".join(str(int(v)) for v in km.labels_))
    print("centers " + " ".join("%.9g" % v for v in km.cluster_centers_.ravel()))


def main():
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    for i, case in enumerate(sys.argv[1:], 1):
        print("case %d" % i)
        fit(case)


if __name__ == "__main__":
    main()
