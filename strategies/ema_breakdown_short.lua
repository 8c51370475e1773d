-- EMA breakdown short: sell a trending decline.
--
-- Idle:        the fast EMA crossing below the slow EMA starts an analysis.
-- Analyzing:   enter short if ADX shows a trend (above `min_adx`) and RSI is
--              below 50, with a stop `stop_atr` ATRs above the close and a
--              target `target_atr` ATRs below; otherwise cancel.
-- In position: cover (exit) when the fast EMA crosses back above the slow EMA.
--              Stop and target are filled by the engine's auto-exit.

params = {
  fast = 12,
  slow = 26,
  min_adx = 15,
  stop_atr = 2.0,
  target_atr = 4.0,
  quantity = 0.1,
}

local prev_diff = nil

local function ema_diff(indicators)
  local fast, slow = indicators.ema(params.fast), indicators.ema(params.slow)
  local before = prev_diff
  prev_diff = fast and slow and fast - slow
  return prev_diff, before
end

function detect_opportunity(market_data, context, indicators)
  local diff, before = ema_diff(indicators)
  if diff and before and before >= 0 and diff < 0 then
    return { cross_close = market_data.close }
  end
  return nil
end

function filter_commitment(market_data, context, indicators)
  ema_diff(indicators)
  local adx, rsi, atr = indicators.adx(14), indicators.rsi(14), indicators.atr(14)
  if adx and rsi and atr and adx > params.min_adx and rsi < 50 then
    local close = market_data.close
    return {
      action = "enter_short",
      quantity = params.quantity,
      stop_loss = close + params.stop_atr * atr,
      take_profit = close - params.target_atr * atr,
      reason = string.format("ADX %.1f, RSI %.1f", adx, rsi),
    }
  end
  return { action = "cancel_analysis", reason = "no trend behind the cross" }
end

function manage_position(market_data, context, indicators)
  local diff = ema_diff(indicators)
  if diff > 0 then
    return { action = "exit", reason = "fast EMA back above slow EMA" }
  end
  return nil
end
