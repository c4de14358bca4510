"""Cheap prompt-text features: hashed word n-grams, and a dense projection of them."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import HashingVectorizer

from odma_sim.predictors.base import FeatureTable, FloatArray, design_matrix


class TextFeaturizer:
    """Hashed word 1- and 2-grams of the prompt (stateless, so new prompts need no
    vocabulary), joined with the metadata features of :func:`design_matrix`.

    ``sparse`` suits linear models (S3's classifier); ``dense`` projects the hashed
    n-grams onto ``dims`` components learned by truncated SVD on the training prompts
    (for the gradient-boosted ODMA regressor). Without text both return the metadata.
    """

    def __init__(self, n_tasks: int, dims: int = 48, n_features: int = 1 << 14,
                 seed: int = 0) -> None:
        self.n_tasks = n_tasks
        self.dims = dims
        self.seed = seed
        self.hasher = HashingVectorizer(n_features=n_features, ngram_range=(1, 2),
                                        alternate_sign=False, norm="l2")
        self.svd: TruncatedSVD | None = None

    def fit(self, ft: FeatureTable) -> TextFeaturizer:
        self.svd = None
        if ft.text is not None and len(ft) > self.dims:
            self.svd = TruncatedSVD(self.dims, random_state=self.seed, algorithm="arpack")
            self.svd.fit(self.hasher.transform(ft.text))
        return self

    def sparse(self, ft: FeatureTable) -> sp.csr_matrix:
        meta = sp.csr_matrix(design_matrix(ft, self.n_tasks))
        if ft.text is None:
            return meta
        return sp.hstack([meta, self.hasher.transform(ft.text)], format="csr")

    def dense(self, ft: FeatureTable) -> FloatArray:
        meta = design_matrix(ft, self.n_tasks)
        if ft.text is None or self.svd is None:
            return meta
        return np.hstack([meta, self.svd.transform(self.hasher.transform(ft.text))])
