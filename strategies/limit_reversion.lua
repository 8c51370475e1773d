-- Mean reversion with limit orders that expire.
--
-- Idle:        a close below the lower Bollinger band marks a stretched market.
-- Analyzing:   bid below the market: a buy limit `dip_atr` ATRs under the close,
--              good for `expire` bars (context.order shows it while it waits).
--              It fills only if a later bar trades down to it, at the limit (or
--              at the open of a bar that opens below it), never at a price
--              already seen. When it expires unfilled (context.order_expired)
--              the idea is dropped.
-- In position: target the middle band (take_profit), stop `stop_atr` ATRs below
--              the entry; sell at the market after `max_bars` bars
--              (context.position.bars_held) if neither level was reached.
-- Sizing:      `size`, a fraction of the equity.
--
-- Try:  python -m engine run --strategy strategies/limit_reversion.lua --bars 5000

params = {
  period = 20,        -- Bollinger period
  nbdev = 2.0,        -- band width in standard deviations
  atr_period = 14,    -- ATR period
  dip_atr = 0.5,      -- the limit sits this many ATRs below the close
  stop_atr = 3.0,     -- stop distance below the limit, in ATRs
  expire = 3,         -- bars the limit order stays live
  size = 0.5,         -- fraction of equity per trade
  max_bars = 30,      -- time exit
}

function detect_opportunity(market_data, context, indicators)
  local bands = indicators.bollinger(params.period, params.nbdev, params.nbdev)
  local atr = indicators.atr(params.atr_period)
  if bands and atr and market_data.close < bands.lower then
    return { stretched_at = market_data.close }
  end
  return nil
end

function filter_commitment(market_data, context, indicators)
  if context.order_expired then
    return { action = "cancel_analysis", reason = "the dip did not come" }
  end
  if context.order ~= nil then return nil end  -- keep waiting
  local bands = indicators.bollinger(params.period, params.nbdev, params.nbdev)
  local atr = indicators.atr(params.atr_period)
  local limit = market_data.close - params.dip_atr * atr
  if bands.middle <= limit then return { action = "cancel_analysis" } end
  return {
    action = "enter_long",
    price = limit,
    expire_bars = params.expire,
    size = params.size,
    take_profit = bands.middle,
    stop_loss = limit - params.stop_atr * atr,
    reason = "limit below a close under the lower band",
  }
end

function manage_position(market_data, context, indicators)
  if context.position.bars_held >= params.max_bars then
    return { action = "exit", reason = "time exit" }
  end
  return nil
end
