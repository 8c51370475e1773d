"""Layer 4: Lua strategies in a sandboxed runtime (docs/design.md §5).

``LuaStrategy`` loads a script into its own ``lupa.lua54`` runtime and runs one
of its three functions per bar; ``LuaStrategyError`` (a StrategyError) says
what went wrong and where.
"""

from engine.strategy.errors import LuaStrategyError
from engine.strategy.lua_strategy import LuaStrategy

__all__ = ["LuaStrategy", "LuaStrategyError"]
