-- Test strategy: long above the 10-bar SMA, flat below; never short.
function detect_opportunity(m, ctx, ind)
  local s = ind.sma(10)
  if s ~= nil and m.close > s then return {} end
  return nil
end

function filter_commitment(m, ctx, ind)
  return { action = "enter_long", quantity = 0.1 }  -- 0.1 x ~42,000 fits 10,000 cash
end

function manage_position(m, ctx, ind)
  local s = ind.sma(10)
  if s ~= nil and m.close < s then return { action = "exit" } end
  return nil
end
