"""The names an analysis accepts (RDM methods, comparisons, embeddings, attacks, modes), kept apart from
the modules that implement them so that building the command line loads no heavy library."""

RDM_METHODS = ("correlation", "euclidean", "mahalanobis", "poisson")  # the first two by matrix products
COMPARISONS = ("cosine", "corr", "spearman", "kendall", "tau-a", "rho-a", "bures")
EMBEDDINGS = ("tsne", "pca", "mds")
ATTACKS = ("fgsm", "pgd")
MODES = ("true", "feedback", "transfer")
FIGURES = ("main-learning", "main-robustness", "main-representations", "training-curves", "rdm-grid", "paths", "paths-per-rule", "tsne-grid", "gradient-snr", "cosine-to-bp",
           "robustness", "transfer", "firing-rates", "spike-raster", "weight-alignment", "representation-dynamics",
           "bias-variance")
