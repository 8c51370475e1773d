-- Bollinger breakout: ride a close above the upper band.
--
-- Idle:        a close above the upper band (20, 2, 2) is a breakout candidate.
-- Analyzing:   confirm on the next bar: the close must still be above the
--              middle band and the volume above its recent level (OBV rising);
--              enter long with the stop at the middle band.
-- In position: exit when the close falls below the middle band; the engine's
--              auto-exit fills the stop if a bar trades through it first.

params = {
  period = 20,
  width = 2.0,        -- band width in standard deviations
  quantity = 0.1,
}

local last_obv = nil

local function obv_rising(indicators)
  local obv = indicators.obv()
  local rising = last_obv ~= nil and obv > last_obv
  last_obv = obv
  return rising
end

function detect_opportunity(market_data, context, indicators)
  local bands = indicators.bollinger(params.period, params.width, params.width)
  obv_rising(indicators)
  if bands and market_data.close > bands.upper then
    return { breakout_close = market_data.close, upper = bands.upper }
  end
  return nil
end

function filter_commitment(market_data, context, indicators)
  local bands = indicators.bollinger(params.period, params.width, params.width)
  local rising = obv_rising(indicators)
  if market_data.close > bands.middle and rising then
    return {
      action = "enter_long",
      quantity = params.quantity,
      stop_loss = bands.middle,
      reason = "breakout above " .. string.format("%.2f", context.upper) .. " confirmed",
    }
  end
  return { action = "cancel_analysis", reason = "breakout not confirmed" }
end

function manage_position(market_data, context, indicators)
  local bands = indicators.bollinger(params.period, params.width, params.width)
  obv_rising(indicators)
  if market_data.close < bands.middle then
    return { action = "exit", reason = "close back below the middle band" }
  end
  return nil
end
