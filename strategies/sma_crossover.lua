-- SMA crossover (20/50): the classic trend entry.
--
-- Idle:       when the fast SMA crosses above the slow SMA, note the cross.
-- Analyzing:  enter long on the next bar if the fast SMA is still above the
--             slow one, with a protective stop below the entry; otherwise
--             cancel (the cross was a whipsaw).
-- In position: exit when the fast SMA falls back below the slow SMA; the
--             stop-loss is handled by the engine's auto-exit.
--
-- Try:  python -m engine check strategies/sma_crossover.lua --param fast=10

params = {
  fast = 20,          -- fast SMA period (bars)
  slow = 50,          -- slow SMA period (bars)
  quantity = 0.1,     -- position size in units of the asset
  stop_pct = 0.01,    -- stop-loss distance below the entry, as a fraction
}

-- The previous bar's SMAs, updated in every state so a cross is never stale.
local prev_fast, prev_slow = nil, nil

local function smas(indicators)
  local fast, slow = indicators.sma(params.fast), indicators.sma(params.slow)
  local pf, ps = prev_fast, prev_slow
  prev_fast, prev_slow = fast, slow
  return fast, slow, pf, ps
end

function detect_opportunity(market_data, context, indicators)
  local fast, slow, pf, ps = smas(indicators)
  if not (fast and slow and pf and ps) then return nil end  -- warming up
  if pf <= ps and fast > slow then
    return { signal = "golden_cross", cross_close = market_data.close }
  end
  return nil
end

function filter_commitment(market_data, context, indicators)
  local fast, slow = smas(indicators)
  if fast > slow then
    return {
      action = "enter_long",
      quantity = params.quantity,
      stop_loss = market_data.close * (1 - params.stop_pct),
      reason = "fast SMA above slow SMA after a cross at " .. context.cross_close,
    }
  end
  return { action = "cancel_analysis", reason = "cross did not hold" }
end

function manage_position(market_data, context, indicators)
  local fast, slow = smas(indicators)
  if fast < slow then
    return { action = "exit", reason = "fast SMA back below slow SMA" }
  end
  return nil
end
