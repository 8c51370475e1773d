-- Benchmark strategy of bench/perbar.py: five indicators read on every bar.
-- Idle: RSI oversold above the slow EMA arms; Analyzing: enter if %R turned up,
-- with a stop two ATRs below; In position: exit when RSI is overbought or the
-- close falls below the SMA.
params = { quantity = 1 }

local function read(ind)
  return ind.sma(20), ind.ema(50), ind.rsi(14), ind.atr(14), ind.willr(14)
end

function detect_opportunity(md, ctx, ind)
  local sma, ema, rsi, atr, willr = read(ind)
  if rsi and ema and rsi < 35 and md.close > ema * 0.98 then
    return { signal = "oversold", willr = willr }
  end
  return nil
end

function filter_commitment(md, ctx, ind)
  local sma, ema, rsi, atr, willr = read(ind)
  if willr and willr > ctx.willr then
    return { action = "enter_long", quantity = params.quantity,
             stop_loss = md.close - 2 * atr, reason = "%R turned up" }
  end
  return { action = "cancel_analysis", reason = "%R kept falling" }
end

function manage_position(md, ctx, ind)
  local sma, ema, rsi, atr, willr = read(ind)
  if rsi > 70 or md.close < sma then
    return { action = "exit", reason = "overbought or below the SMA" }
  end
  return nil
end
