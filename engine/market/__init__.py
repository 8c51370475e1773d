"""Layer 1, market data (docs/design.md §2): validated bars, per-symbol windows, storage.

Feeds live in the ``engine.market.feeds`` subpackage and are not imported here,
so importing ``engine.market`` stays cheap.
"""

from engine.market.bar import Bar
from engine.market.storage import MarketDataStorage
from engine.market.window import DEFAULT_CAPACITY, MarketDataWindow

__all__ = ["DEFAULT_CAPACITY", "Bar", "MarketDataStorage", "MarketDataWindow"]
