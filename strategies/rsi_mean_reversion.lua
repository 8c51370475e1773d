-- RSI mean reversion: buy an oversold dip once it starts to turn.
--
-- Idle:        RSI below `oversold` marks an opportunity (its RSI is remembered).
-- Analyzing:   enter long when the RSI turns up from the remembered level, with
--              a stop `stop_atr` ATRs below and a target at the Bollinger middle
--              band (the mean we expect to revert to); give up after
--              `max_wait` bars or if the RSI keeps falling below `give_up`.
-- In position: exit when the RSI recovers above `exit_rsi`.

params = {
  period = 14,        -- RSI period
  oversold = 30,      -- RSI level that marks an oversold market
  give_up = 15,       -- cancel if the RSI falls this low before turning
  exit_rsi = 55,      -- take the reversion when RSI is back above this
  stop_atr = 2.0,     -- stop distance in ATR(14)
  max_wait = 10,      -- bars to wait for the turn
  quantity = 0.1,
}

local waited = 0

function detect_opportunity(market_data, context, indicators)
  local rsi = indicators.rsi(params.period)
  if rsi and rsi < params.oversold then
    waited = 0
    return { entry_rsi = rsi }
  end
  return nil
end

function filter_commitment(market_data, context, indicators)
  local rsi, atr = indicators.rsi(params.period), indicators.atr(14)
  local bands = indicators.bollinger(20, 2, 2)
  waited = waited + 1
  if rsi < params.give_up or waited > params.max_wait then
    return { action = "cancel_analysis", reason = "no turn" }
  end
  if rsi > context.entry_rsi and atr and bands then
    local close = market_data.close
    local order = {
      action = "enter_long",
      quantity = params.quantity,
      stop_loss = close - params.stop_atr * atr,
    }
    if bands.middle > close then order.take_profit = bands.middle end
    return order
  end
  return nil  -- keep waiting (stay in analyzing)
end

function manage_position(market_data, context, indicators)
  local rsi = indicators.rsi(params.period)
  if rsi > params.exit_rsi then
    return { action = "exit", reason = "RSI recovered to " .. string.format("%.1f", rsi) }
  end
  return nil
end
