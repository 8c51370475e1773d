-- MACD trend follower with an ATR trailing stop.
--
-- Idle:        the MACD histogram turning positive starts an analysis.
-- Analyzing:   enter long if the MACD line is above zero (an uptrend, not just
--              a bounce), stop `trail_atr` ATRs below the close; otherwise cancel.
-- In position: trail the stop up to `trail_atr` ATRs below the close with
--              update_stop_loss (never down); exit when the histogram turns
--              negative while the MACD line is below its signal line.

params = {
  fast = 12, slow = 26, signal = 9,
  atr_period = 14,
  trail_atr = 3.0,    -- stop distance in ATRs
  quantity = 0.1,
}

local prev_hist = nil

local function macd(indicators)
  local m = indicators.macd(params.fast, params.slow, params.signal)
  local before = prev_hist
  prev_hist = m and m.histogram
  return m, before
end

function detect_opportunity(market_data, context, indicators)
  local m, before = macd(indicators)
  if m and before and before <= 0 and m.histogram > 0 then
    return { histogram = m.histogram }
  end
  return nil
end

function filter_commitment(market_data, context, indicators)
  local m = macd(indicators)
  local atr = indicators.atr(params.atr_period)
  if m.macd > 0 and atr then
    return {
      action = "enter_long",
      quantity = params.quantity,
      stop_loss = market_data.close - params.trail_atr * atr,
    }
  end
  return { action = "cancel_analysis", reason = "MACD below zero" }
end

function manage_position(market_data, context, indicators)
  local m = macd(indicators)
  if m.histogram < 0 and m.macd < m.signal then
    return { action = "exit", reason = "MACD turned down" }
  end
  local stop = market_data.close - params.trail_atr * indicators.atr(params.atr_period)
  local current = context.position.stop_loss
  if current == nil or stop > current then
    return { action = "update_stop_loss", stop_loss = stop }
  end
  return nil
end
