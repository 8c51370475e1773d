(* Tests of the execution model (ocaml/lib/book.ml): hand-computed fills, fees,
   P&L and equity (derivations in the comments), the refusal kinds, bad bars.
   Prints every failure and a closing count; exits non-zero when anything failed. *)
open Tandem
open Book

let passed = ref 0
let failed = ref 0

let check name ok =
  if ok then incr passed else begin incr failed; Printf.printf "FAIL: %s\n%!" name end

(* the hand values are exact rationals; the doubles may round differently *)
let approx name got expected =
  let ok = Float.abs (got -. expected) <= 1e-9 *. Float.max 1. (Float.abs expected) in
  if not ok then Printf.printf "  %s: got %.17g, expected %.17g\n" name got expected;
  check name ok

let fees10 = { fee_bps = 10.; slippage_bps = 0. }
let close_fill = { fill = At_close; cash = 10_000.; leverage = None }
let book ?(costs = fees10) ?(exec = close_fill) () = create costs exec

(* bar [i] at minute i *)
let bar ?o ?h ?l i c =
  let o = Option.value o ~default:c in
  let h = Option.value h ~default:(Float.max o c +. 1.) in
  let l = Option.value l ~default:(Float.min o c -. 0.5) in
  { timestamp = i * 60_000; open_ = o; high = h; low = l; close = c }

let long ?quantity ?size ?risk ?price ?stop_price ?stop_loss ?take_profit ?expire_bars () =
  Enter (Long, { quantity; size; risk; price; stop_price; stop_loss; take_profit; expire_bars })

let short ?quantity ?stop_loss ?take_profit ?price () =
  Enter (Short, { no_entry with quantity; stop_loss; take_profit; price })

(* detect_opportunity on bar 0, then [action] on bar 1 *)
let analyze t = ignore (step t (bar 0 100.) (Some Detect_opportunity))

let exit_of (s : step) = List.find_opt (fun (f : fill) -> not f.entry) s.fills
let entry_of (s : step) =
  List.find_map (fun (f : fill) -> if f.entry then Some (f.price, f.quantity, f.fee) else None)
    s.fills

let refused_with name (s : step) field problem =
  match s.refusal with
  | Some r ->
    let ok = r.field = field && r.problem = problem in
    if not ok then Printf.printf "  %s: refused %s/%s (%s)\n" name r.field
        (problem_name r.problem) r.message;
    check name ok
  | None -> check (name ^ ": accepted") false

let test_market_close () =
  let t = book () in
  analyze t;
  let s = step t (bar 1 100.) (Some (long ~quantity:2. ())) in
  (* fill at the close 100 (no slippage); fee = 10 * 100 * 2 / 1e4 = 0.2 *)
  check "market entry fills" (entry_of s = Some (100., 2., 10. *. 100. *. 2. /. 1e4));
  (* equity = 10000 + 0 + (100 - 100) * 2 - 0.2 = 9999.8 *)
  approx "equity after the entry" (equity t) 9999.8;
  let _ = step t (bar 2 110.) None in
  (* unrealized = (110 - 100) * 2 - 0.2 = 19.8 *)
  approx "marked at 110" (equity t) 10_019.8;
  check "bars_held 1" ((Option.get (position t)).bars_held = 1);
  let s = step t (bar 3 120.) (Some (Exit { price = None; expire_bars = None })) in
  (* exit at 120: fee 0.24; pnl = 20 * 2 - 0.2 - 0.24 = 39.56 *)
  (match exit_of s with
   | Some e -> approx "exit pnl" e.pnl 39.56; check "strategy exit" (e.reason = Some Strategy)
   | None -> check "exit fills" false);
  approx "realized" (realized_pnl t) 39.56;
  approx "fees paid" (fees_paid t) 0.44;
  approx "equity = cash + realized" (equity t) 10_039.56;
  check "idle" (state t = Idle)

let in_long ?(costs = fees10) ?stop_loss ?take_profit q =
  let t = book ~costs () in
  analyze t;
  ignore (step t (bar 1 100.) (Some (long ~quantity:q ?stop_loss ?take_profit ())));
  t

let test_stops () =
  (* the open 90 is below the stop 95: fills at the open; fee 10*90*2/1e4 = 0.18;
     pnl = (90 - 100) * 2 - 0.2 - 0.18 = -20.38 *)
  let t = in_long ~stop_loss:95. 2. in
  let s = step t (bar 2 ~o:90. ~h:91. ~l:89. 90.) None in
  (match exit_of s with
   | Some e -> approx "gap stop at the open" e.price 90.; approx "gap pnl" e.pnl (-20.38);
     check "stop reason" (e.reason = Some Stop_loss)
   | None -> check "gap stop" false);
  approx "equity after the stop" (equity t) 9979.62;
  (* inside the bar: open 98, low 94 reaches the stop 95: fills at 95 *)
  let t = in_long ~stop_loss:95. 1. in
  let s = step t (bar 2 ~o:98. ~h:99. ~l:94. 96.) None in
  (match exit_of s with Some e -> approx "stop at its level" e.price 95. | None -> check "stop" false);
  (* both touched: low 94 <= 95 and high 106 >= 105: the stop wins *)
  let t = in_long ~stop_loss:95. ~take_profit:105. 1. in
  let s = step t (bar 2 ~o:100. ~h:106. ~l:94. 100.) None in
  (match exit_of s with
   | Some e -> approx "stop first" e.price 95.; check "stop first reason" (e.reason = Some Stop_loss)
   | None -> check "both touched" false);
  (* the open 107 is above the target 105: the target fills at the open *)
  let t = in_long ~stop_loss:95. ~take_profit:105. 1. in
  let s = step t (bar 2 ~o:107. ~h:108. ~l:106. 107.) None in
  (match exit_of s with
   | Some e -> approx "gap target at the open" e.price 107.;
     check "target reason" (e.reason = Some Take_profit)
   | None -> check "gap target" false);
  (* the target inside the bar fills at its level, without slippage *)
  let slip = { fee_bps = 0.; slippage_bps = 100. } in
  let t = in_long ~costs:slip ~take_profit:105. 1. in
  (* the entry fills at adverse(100, +1) = 100 * (1 + 100/1e4) = 101 *)
  check "slipped market entry" (match (Option.get (position t)).entry_price with
      | p -> Float.abs (p -. 101.) < 1e-12);
  let s = step t (bar 2 ~o:102. ~h:106. ~l:101.5 103.) None in
  (match exit_of s with Some e -> approx "target at its level" e.price 105. | None -> check "target" false);
  (* a slipped stop: 95 * (1 - 0.01) = 94.05 *)
  let t = in_long ~costs:slip ~stop_loss:95. 1. in
  let s = step t (bar 2 ~o:99. ~h:100. ~l:94. 96.) None in
  (match exit_of s with Some e -> approx "slipped stop" e.price 94.05 | None -> check "slipped" false);
  (* a short mirrors: entry 100, stop 105; high 106 reaches it; fee 0 with fees 0:
     pnl = -(105 - 100) * 3 = -15 *)
  let t = book ~costs:{ fee_bps = 0.; slippage_bps = 0. } () in
  analyze t;
  ignore (step t (bar 1 100.) (Some (short ~quantity:3. ~stop_loss:105. ())));
  let s = step t (bar 2 ~o:101. ~h:106. ~l:100.5 102.) None in
  (match exit_of s with Some e -> approx "short stop pnl" e.pnl (-15.) | None -> check "short" false)

let test_orders () =
  (* a buy limit 98 placed at close 100; the next bar opens 99 and its low 97
     reaches 98: fills at 98, inside the bar, so the stop 97.5 touched by that
     low is not tested in this bar *)
  let t = book () in
  analyze t;
  let s = step t (bar 1 100.) (Some (long ~quantity:1. ~price:98. ~stop_loss:97.5 ())) in
  check "limit waits" (s.fills = [] && state t = Analyzing && pending t <> None);
  let s = step t (bar 2 ~o:99. ~h:99.5 ~l:97. 98.5) None in
  check "limit fills at its level" (entry_of s = Some (98., 1., 10. *. 98. /. 1e4));
  check "not protected in an intrabar fill bar" (state t = In_position);
  let s = step t (bar 3 ~o:98. ~h:98.5 ~l:97. 97.8) None in
  check "protected from the next bar" (exit_of s <> None && state t = Idle);
  (* a limit 98 the bar opens below (96): fills at the open, protected in the same
     bar; the stop 97 is above that open: stops out at the open: a round trip at
     96 that loses both fees, 2 * 10 * 96 * 1 / 1e4 = 0.192 *)
  let t = book () in
  analyze t;
  ignore (step t (bar 1 100.) (Some (long ~quantity:1. ~price:98. ~stop_loss:97. ())));
  let s = step t (bar 2 ~o:96. ~h:97.5 ~l:95. 96.5) None in
  (match exit_of s with
   | Some e -> approx "round trip loses the fees" e.pnl (-0.192)
   | None -> check "fill-bar protection" false);
  (* a buy stop 105: the next bar (open 101, high 106) fills at 105 *)
  let t = book () in
  analyze t;
  ignore (step t (bar 1 100.) (Some (long ~quantity:1. ~stop_price:105. ())));
  let s = step t (bar 2 ~o:101. ~h:106. ~l:100.5 104.) None in
  check "stop entry at its level" (match entry_of s with Some (p, _, _) -> p = 105. | None -> false);
  (* expiry 2: two bars without a fill; the second expires it *)
  let t = book () in
  analyze t;
  ignore (step t (bar 1 100.) (Some (long ~quantity:1. ~price:90. ~expire_bars:2. ())));
  let s = step t (bar 2 100.) None in
  check "aged" (not s.expired && (Option.get (pending t)).bars_left = Some 1);
  let s = step t (bar 3 100.) None in
  check "expired" (s.expired && pending t = None && state t = Analyzing);
  let s = step t (bar 4 100.) None in
  check "expired for one bar only" (not s.expired);
  (* a risk entry whose limit fills below its stop: refused at the fill *)
  let t = book () in
  analyze t;
  ignore (step t (bar 1 100.) (Some (long ~risk:0.01 ~price:98. ~stop_loss:97. ())));
  let s = step t (bar 2 ~o:96. ~h:97. ~l:95. 96.) None in
  check "refused at the fill" (match s.refused_fill with
      | Some r -> r.problem = No_room && r.field = "stop_loss" | None -> false);
  check "still analyzing" (state t = Analyzing && pending t = None);
  (* a limit exit 105 with take-profit 104: T' = min(104, 105) = 104, a take-profit *)
  let t = in_long ~take_profit:104. 1. in
  ignore (step t (bar 2 100.) (Some (Exit { price = Some 105.; expire_bars = None })));
  let s = step t (bar 3 ~o:101. ~h:106. ~l:100.5 103.) None in
  (match exit_of s with
   | Some e -> approx "nearer level" e.price 104.; check "counts as target" (e.reason = Some Take_profit)
   | None -> check "limit exit" false);
  (* a limit exit 105 alone: fills at 105 as a strategy exit *)
  let t = in_long 1. in
  ignore (step t (bar 2 100.) (Some (Exit { price = Some 105.; expire_bars = None })));
  let s = step t (bar 3 ~o:101. ~h:106. ~l:100.5 103.) None in
  (match exit_of s with
   | Some e -> approx "limit exit level" e.price 105.; check "strategy reason" (e.reason = Some Strategy)
   | None -> check "limit exit alone" false)

let test_next_open () =
  let costs = { fee_bps = 0.; slippage_bps = 50. } in
  let t = book ~costs ~exec:{ close_fill with fill = Next_open } () in
  analyze t;
  let s = step t (bar 1 100.) (Some (long ~quantity:1. ())) in
  check "market waits under next-open" (s.fills = [] && pending t <> None);
  (* fills at adverse(102, +1) = 102 * 1.005 = 102.51 *)
  let s = step t (bar 2 ~o:102. ~h:103. ~l:101. 102.) None in
  (match entry_of s with Some (p, _, _) -> approx "next open slipped" p 102.51
                       | None -> check "next open fill" false);
  ignore (step t (bar 3 104.) (Some (Exit { price = None; expire_bars = None })));
  (* exit at adverse(103, -1) = 103 * 0.995 = 102.485 on the next bar's open *)
  let s = step t (bar 4 ~o:103. ~h:104. ~l:102. 103.) None in
  (match exit_of s with Some e -> approx "market exit at next open" e.price 102.485
                      | None -> check "next open exit" false)

let test_sizing () =
  (* size 0.5 of E = 10000 at 100 with 10 bps: q = 5000 / (100 + 0.1); cost + fee = 5000 *)
  let t = book () in
  analyze t;
  let s = step t (bar 1 100.) (Some (long ~size:0.5 ())) in
  (match entry_of s with
   | Some (p, q, f) -> approx "size q" q (5000. /. 100.1); approx "cost + fee" (q *. p +. f) 5000.
   | None -> check "size entry" false);
  (* risk 0.01 with stop 95 at 100: loss per unit 5 + 0.1 + 0.095 = 5.195; q = 100 / 5.195 *)
  let t = book () in
  analyze t;
  let s = step t (bar 1 100.) (Some (long ~risk:0.01 ~stop_loss:95. ())) in
  (match entry_of s with Some (_, q, _) -> approx "risk q" q (100. /. 5.195)
                       | None -> check "risk entry" false);
  let s = step t (bar 2 ~o:96. ~h:96.5 ~l:94. 95.) None in
  (* the stop at 95 loses exactly risk * E = 100, net of both fees *)
  (match exit_of s with Some e -> approx "risk loss" e.pnl (-100.) | None -> check "risk stop" false);
  (* leverage 1: 200 units at 100 cost 20000 + fee 20 > 10000 *)
  let t = book ~exec:{ close_fill with leverage = Some 1. } () in
  analyze t;
  let s = step t (bar 1 100.) (Some (long ~quantity:200. ())) in
  refused_with "cash check" s "quantity" Cash;
  check "refusal changes nothing" (state t = Analyzing && position t = None);
  let s = step t (bar 2 100.) (Some (long ~quantity:1e308 ())) in
  refused_with "overflow" s "quantity" Overflow

let test_refusals () =
  let t = book () in
  let s = step t (bar 0 100.) (Some (Exit { price = None; expire_bars = None })) in
  refused_with "exit when idle" s "action" State;
  ignore (step t (bar 1 100.) (Some Detect_opportunity));
  let s = step t (bar 2 100.) (Some Detect_opportunity) in
  refused_with "detect when analyzing" s "action" State;
  let cases = [
    "no sizing", long (), "quantity", Required;
    "two sizings", long ~quantity:1. ~size:0.5 (), "size", Combined;
    "quantity 0", long ~quantity:0. (), "quantity", Not_positive;
    "size 1.5", long ~size:1.5 (), "size", Fraction;
    "risk without stop", long ~risk:0.1 (), "risk", Needs_stop;
    "expiry on market", long ~quantity:1. ~expire_bars:3. (), "expire_bars", Expiry_market;
    "negative expiry", long ~quantity:1. ~price:99. ~expire_bars:(-1.) (), "expire_bars",
    Expiry_negative;
    "fractional expiry", long ~quantity:1. ~price:99. ~expire_bars:1.5 (), "expire_bars", Not_whole;
    "stop-limit", long ~quantity:1. ~price:99. ~stop_price:101. (), "stop_price", Combined;
    "buy limit above the close", long ~quantity:1. ~price:101. (), "price", Disguised_market;
    "buy stop below the close", long ~quantity:1. ~stop_price:99. (), "stop_price",
    Disguised_market;
    "negative price", long ~quantity:1. ~price:(-1.) (), "price", Not_positive;
    "stop above the entry", long ~quantity:1. ~stop_loss:101. (), "stop_loss", Level;
    "target below the limit", long ~quantity:1. ~price:95. ~take_profit:94. (), "take_profit",
    Level;
    "nan quantity", long ~quantity:Float.nan (), "quantity", Not_finite;
    "sell limit below the close", short ~quantity:1. ~price:99. (), "price", Disguised_market;
    "short stop below", short ~quantity:1. ~stop_loss:99. (), "stop_loss", Level;
  ] in
  List.iteri (fun i (name, a, field, problem) ->
      let s = step t (bar (3 + i) 100.) (Some a) in
      refused_with name s field problem;
      check (name ^ ": unchanged") (state t = Analyzing && pending t = None))
    cases;
  let t = in_long 1. in
  let s = step t (bar 2 100.) (Some (Update_stop_loss (Some 100.))) in
  refused_with "stop at the close" s "stop_loss" Level;
  let s = step t (bar 3 100.) (Some (Update_take_profit None)) in
  refused_with "missing target" s "take_profit" Required;
  let s = step t (bar 4 100.) (Some (Exit { price = Some 99.; expire_bars = None })) in
  refused_with "sell limit below the close" s "price" Disguised_market;
  let s = step t (bar 5 100.) (Some (Exit { price = None; expire_bars = Some 2. })) in
  refused_with "expiry on a market exit" s "expire_bars" Expiry_market;
  let s = step t (bar 6 100.) (Some Cancel_analysis) in
  refused_with "cancel in position" s "action" State

let test_bad_input () =
  let t = book () in
  ignore (step t (bar 5 100.) None);
  let bad name b kind =
    match step t b None with
    | _ -> check (name ^ ": accepted") false
    | exception Bad_bar (k, _) -> check name (k = kind) in
  bad "same timestamp" (bar 5 100.) Out_of_order;
  bad "earlier bar" (bar 4 100.) Out_of_order;
  bad "nan close" { (bar 6 100.) with close = Float.nan } Not_finite_price;
  bad "low above the open" { (bar 6 100.) with low = 100.5 } Inconsistent;
  bad "negative price" { (bar 6 100.) with open_ = -1.; low = -2. } Inconsistent;
  ignore (step t (bar 6 100.) None);
  check "a later bar after the errors" (equity t = 10_000.);
  let raises name f = match f () with
    | _ -> check (name ^ ": accepted") false
    | exception Invalid_argument _ -> check name true in
  raises "fee out of range" (fun () -> create { fees10 with fee_bps = 10_000. } close_fill);
  raises "nan slippage" (fun () -> create { fees10 with slippage_bps = Float.nan } close_fill);
  raises "zero cash" (fun () -> create fees10 { close_fill with cash = 0. });
  raises "leverage 0.5" (fun () -> create fees10 { close_fill with leverage = Some 0.5 });
  check "problem codes 1..15" (problem_code State = 1 && problem_code Cash = 15)

let () =
  test_market_close ();
  test_stops ();
  test_orders ();
  test_next_open ();
  test_sizing ();
  test_refusals ();
  test_bad_input ();
  Printf.printf "book: %d passed, %d failed\n" !passed !failed;
  if !failed > 0 then exit 1
