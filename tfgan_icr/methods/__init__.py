"""Loss terms of the zoo's methods, each a gin-configurable ``term(ctx) -> scalar`` for
``build_gan.d_terms`` / ``build_gan.g_terms``: one module per paper, built on the pure
functions of ``tfgan_icr.regularizers`` and ``tfgan_icr.augment``.

- ``consistency``: CR (Zhang et al. 2020), bCR and zCR (Zhao et al. 2020; ICR = bCR + zCR).
- ``penalties``: the ICR paper's baselines: WGAN-GP, DRAGAN, JSR.
- ``contrastive``: ContraGAN's 2C loss (Kang & Park 2020), with the contrastive D head.
- ``acgan``: ACGAN's auxiliary classifier losses (Odena et al. 2017), with the acgan D head.
"""
