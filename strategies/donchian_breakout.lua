-- Donchian breakout with a stop order and ATR risk sizing (the turtle entry).
--
-- Idle:        once the channel and the ATR are warm, start watching.
-- Analyzing:   keep a buy stop at the top of the `channel`-bar channel
--              (indicators.highest): it fills only when a later bar trades above
--              every high of the channel, at the stop (or at the open of a bar
--              that gaps over it). Each order lives one bar (expire_bars = 1) and
--              is placed again at the new channel top when it expires. The stop
--              loss sits `stop_atr` ATRs below the entry and the position is
--              sized by `risk`: a stop filled at its level loses `risk` of the
--              equity, fees included.
-- In position: trail the stop up to the bottom of the `exit_channel`-bar channel
--              (indicators.lowest); give up on a trade still losing after
--              `max_bars` bars (context.position.bars_held).
--
-- Try:  python -m engine run --strategy strategies/donchian_breakout.lua --bars 5000

params = {
  channel = 20,       -- entry channel (bars)
  exit_channel = 10,  -- trailing-stop channel (bars)
  atr_period = 14,    -- ATR period
  stop_atr = 2.5,     -- initial stop distance below the entry, in ATRs
  risk = 0.004,       -- fraction of equity lost if the initial stop fills (on 1-minute
                      -- bars the stop is close: much more risk needs --leverage > 1)
  max_bars = 120,     -- time exit for a trade that is still losing
}

function detect_opportunity(market_data, context, indicators)
  if indicators.highest(params.channel) and indicators.atr(params.atr_period) then
    return { watching = true }
  end
  return nil
end

function filter_commitment(market_data, context, indicators)
  if context.order ~= nil then return nil end  -- the stop placed last bar still waits
  local top = indicators.highest(params.channel)
  local atr = indicators.atr(params.atr_period)
  return {
    action = "enter_long",
    stop_price = top,                          -- at or above the close: a breakout
    stop_loss = top - params.stop_atr * atr,
    risk = params.risk,
    expire_bars = 1,
    reason = "new " .. params.channel .. "-bar high",
  }
end

function manage_position(market_data, context, indicators)
  local pos = context.position
  if pos.bars_held >= params.max_bars and pos.unrealized_pnl < 0 then
    return { action = "exit", reason = "no follow-through after " .. pos.bars_held .. " bars" }
  end
  local floor = indicators.lowest(params.exit_channel)
  if floor and floor > pos.stop_loss and floor < market_data.close then
    return { action = "update_stop_loss", stop_loss = floor }
  end
  return nil
end
