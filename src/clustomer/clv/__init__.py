"""Customer-value models: purchase counts and dropout (BG/NBD, Pareto/NBD), spend
(Gamma-Gamma), CLV, and the backtest that chooses between them.

Examples
--------
>>> from clustomer.clv import BetaGeo, GammaGamma, ParetoNBD
>>> BetaGeo().n_starts, GammaGamma().n_starts, ParetoNBD().n_starts
(5, 5, 5)
"""

from clustomer.clv.bgnbd import BetaGeo
from clustomer.clv.gammagamma import GammaGamma
from clustomer.clv.paretonbd import ParetoNBD

__all__ = ["BetaGeo", "GammaGamma", "ParetoNBD"]
