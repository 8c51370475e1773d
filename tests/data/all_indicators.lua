-- Reads every registry indicator on every call (shadow-mode tests and bench/shadow.py;
-- tests/test_shadow.py checks that the list below names each registry indicator once).
-- Trades on a MACD/RSI/Bollinger mix so a run produces entries and exits.
params = { qty = 0.1 }  -- 0.1 x ~42,000 fits the 10,000 cash

local function read_all(ind)
  local v = {
    sma = ind.sma(20), ema = ind.ema(26), wma = ind.wma(10), rsi = ind.rsi(14),
    macd = ind.macd(12, 26, 9), bb = ind.bollinger(20, 2.0, 2.0), atr = ind.atr(14),
    stoch = ind.stoch(5, 3, 3), willr = ind.willr(14), cci = ind.cci(14),
    adx = ind.adx(14), mfi = ind.mfi(14), obv = ind.obv(), roc = ind.roc(10),
    mom = ind.mom(10), highest = ind.highest(30),
    lowest = ind.lowest(30), stddev = ind.stddev(5, 1.0),
  }
  return v
end

function detect_opportunity(m, ctx, ind)
  local v = read_all(ind)
  if v.macd == nil or v.rsi == nil or v.bb == nil then return nil end
  if v.macd.macd > v.macd.signal and v.rsi < 60 and m.close > v.bb.middle then
    return { seen = m.close }
  end
  return nil
end

function filter_commitment(m, ctx, ind)
  local v = read_all(ind)
  if v.atr == nil or v.atr <= 0 then return { action = "cancel_analysis" } end
  return { action = "enter_long", quantity = params.qty,
           stop_loss = m.close - 2 * v.atr, take_profit = m.close + 3 * v.atr }
end

function manage_position(m, ctx, ind)
  local v = read_all(ind)
  if v.rsi ~= nil and v.rsi > 75 then return { action = "exit", reason = "rsi" } end
  return nil
end
