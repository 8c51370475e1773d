(* Tests of the OCaml indicators: hand-computed cases, streaming = batch,
   warm-up lengths and rejected input. Prints every failure and a closing
   count; exits non-zero when anything failed. *)
open Tandem

let passed = ref 0
let failed = ref 0

let check name ok =
  if ok then incr passed
  else begin
    incr failed;
    Printf.printf "FAIL: %s\n%!" name
  end

let nan = Float.nan

(* hand-computed values are exact rationals; the doubles may be 1-2 ulp off *)
let approx a b =
  (Float.is_nan a && Float.is_nan b)
  || Float.abs (a -. b) <= 1e-12 *. Float.max 1.0 (Float.abs b)

let show a =
  "[" ^ String.concat "; " (Array.to_list (Array.map (Printf.sprintf "%.17g") a)) ^ "]"

let check_series name got expected =
  let ok =
    Array.length got = Array.length expected
    && Array.for_all2 approx got expected
  in
  if not ok then
    Printf.printf "  %s:\n    got      %s\n    expected %s\n" name (show got) (show expected);
  check name ok

(* bit equality; all nans alike *)
let same_bits a b =
  (Float.is_nan a && Float.is_nan b) || Int64.equal (Int64.bits_of_float a) (Int64.bits_of_float b)

let contains s sub =
  let n = String.length s and m = String.length sub in
  let rec go i = i + m <= n && (String.sub s i m = sub || go (i + 1)) in
  go 0

(* [raises name f words]: f raises Invalid_argument whose message has every word *)
let raises name f words =
  match f () with
  | _ -> check (name ^ ": no exception") false
  | exception Invalid_argument msg ->
    let missing = List.filter (fun w -> not (contains msg w)) words in
    if missing <> [] then Printf.printf "  message was: %s\n" msg;
    check (name ^ ": message names " ^ String.concat ", " words) (missing = [])

(* ---------- hand-computed cases ---------- *)

let test_hand () =
  check_series "sma 3" (Batch.sma [| 1.; 2.; 3.; 4.; 6. |] 3) [| nan; nan; 2.; 3.; 13. /. 3. |];
  check_series "sma 1 is the input" (Batch.sma [| 5.; 7. |] 1) [| 5.; 7. |];
  (* k = 2/3; seed (2+4)/2 = 3; then 3 + (6-3)*2/3 = 5; 5 + 2 = 7; 7 - 8/3 *)
  check_series "ema 2" (Batch.ema [| 2.; 4.; 6.; 8.; 3. |] 2)
    [| nan; 3.; 5.; 7.; 7. -. (8. /. 3.) |];
  (* weights 1,2,3: (1+4+9)/6, (2+6+12)/6 *)
  check_series "wma 3" (Batch.wma [| 1.; 2.; 3.; 4. |] 3) [| nan; nan; 14. /. 6.; 20. /. 6. |];
  (* diffs +1 -1 +2 0: seed gain 1/2 loss 1/2 -> 50; then
     gain (0.5+2)/2 = 1.25, loss 0.25 -> 83.33; gain .625 loss .125 -> 83.33 *)
  check_series "rsi 2" (Batch.rsi [| 1.; 2.; 1.; 3.; 3. |] 2)
    [| nan; nan; 50.; 250. /. 3.; 250. /. 3. |];
  check_series "rsi of a constant series is 0" (Batch.rsi (Array.make 5 7.) 3)
    [| nan; nan; nan; 0.; 0. |];
  (* macd 2/3/2 on 1 5 2 8 4 6: slow EMA (k 1/2) seeded 8/3 at bar 2 -> 16/3,
     14/3, 16/3; fast EMA (k 2/3) seeded with mean(5, 2) = 3.5 at bar 2 (not
     mean(1, 5)) -> 6.5, 29/6, 101/18; macd 5/6, 7/6, 1/6, 5/18; signal seeded
     mean(5/6, 7/6) = 1 at bar 3 -> 4/9, 1/3 *)
  let m, s, h = Batch.macd [| 1.; 5.; 2.; 8.; 4.; 6. |] 2 3 2 in
  check_series "macd line" m [| nan; nan; nan; 7. /. 6.; 1. /. 6.; 5. /. 18. |];
  check_series "macd signal" s [| nan; nan; nan; 1.; 4. /. 9.; 1. /. 3. |];
  check_series "macd histogram" h [| nan; nan; nan; 1. /. 6.; -5. /. 18.; -1. /. 18. |];
  let m', _, _ = Batch.macd [| 1.; 5.; 2.; 8.; 4.; 6. |] 3 2 2 in
  check_series "macd swaps fast and slow" m' m;
  (* bollinger 3, up 2, down 1: window 1 2 3 -> mean 2, var 2/3; window 2 3 4 ->
     mean 3, var 2/3; window 3 4 6 -> mean 13/3, var 14/9 *)
  let u, mid, l = Batch.bollinger [| 1.; 2.; 3.; 4.; 6. |] 3 2.0 1.0 in
  let sd1 = sqrt (2. /. 3.) and sd2 = sqrt 14. /. 3. in
  check_series "bollinger middle" mid [| nan; nan; 2.; 3.; 13. /. 3. |];
  check_series "bollinger upper" u [| nan; nan; 2. +. (2. *. sd1); 3. +. (2. *. sd1); (13. /. 3.) +. (2. *. sd2) |];
  check_series "bollinger lower" l [| nan; nan; 2. -. sd1; 3. -. sd1; (13. /. 3.) -. sd2 |];
  let u, _, l = Batch.bollinger (Array.make 4 5.) 2 2.0 2.0 in
  check_series "bollinger of a constant: zero width" (Array.append u l)
    [| nan; 5.; 5.; 5.; nan; 5.; 5.; 5. |];
  (* true ranges: bar1 max(3, |9-12|, |9-9|) = 3; bar2 max(1, |11-11|, |11-10|) = 1;
     bar3 (gap up) max(2, |10-15|, |10-13|) = 5; atr 2: (3+1)/2 = 2, (2+5)/2 *)
  let high = [| 10.; 12.; 11.; 15. |] and low = [| 8.; 9.; 10.; 13. |]
  and close = [| 9.; 11.; 10.; 14. |] in
  check_series "atr 2" (Batch.atr high low close 2) [| nan; nan; 2.; 3.5 |];
  check_series "atr 1 is the true range" (Batch.atr high low close 1) [| nan; 3.; 1.; 5. |];
  (* stoch 3/2/2: fastK = 75, 75, 100, 50 from bar 2; slowK (SMA 2) 75, 87.5,
     75 from bar 3; slowD 81.25, 81.25 from bar 4 *)
  let high = [| 3.; 4.; 5.; 6.; 7.; 8. |] and low = [| 1.; 2.; 3.; 4.; 5.; 6. |]
  and close = [| 2.; 4.; 4.; 5.; 7.; 6. |] in
  let k, d = Batch.stoch high low close 3 2 2 in
  check_series "stoch k" k [| nan; nan; nan; nan; 87.5; 75. |];
  check_series "stoch d" d [| nan; nan; nan; nan; 81.25; 81.25 |];
  let k, _ = Batch.stoch high low close 3 1 1 in
  check_series "stoch raw fastK" k [| nan; nan; 75.; 75.; 100.; 50. |];
  (* willr 3: (HH - close) / (HH - LL) * -100 *)
  check_series "willr 3" (Batch.willr high low close 3) [| nan; nan; -25.; -25.; 0.; -50. |];
  let flat = Array.make 4 2. in
  check_series "willr zero range is 0" (Batch.willr flat flat flat 2) [| nan; 0.; 0.; 0. |];
  let k, _ = Batch.stoch flat flat flat 2 1 1 in
  check_series "stoch zero range is 0" k [| nan; 0.; 0.; 0. |];
  (* cci with h = l = c: period 3, window 1 2 3 -> (3-2)/(0.015 * 2/3) = 100;
     period 4, window 1 2 3 1 -> avg 7/4, mean deviation 3/4 -> -0.75/0.01125;
     window 2 3 1 7 -> avg 13/4, mean deviation 15/8 -> 3.75/0.028125 *)
  let x = [| 1.; 2.; 3.; 1.; 7. |] in
  check_series "cci 3" (Batch.cci x x x 3) [| nan; nan; 100.; -100.; 100. |];
  check_series "cci 4" (Batch.cci x x x 4) [| nan; nan; nan; -200. /. 3.; 400. /. 3. |];
  let high = [| 10.; 12.; 13.; 12.; 11. |] and low = [| 8.; 9.; 10.; 8.; 7. |]
  and close = [| 9.; 11.; 12.; 9.; 8. |] in
  (* bar1 +DM 2 TR 3 (seed); bar2 +DM 1 TR 3: pdm 2, tr 4.5 -> DX 100;
     bar3 -DM 2 TR 4: mdm 2, pdm 1, tr 6.25 -> DI 32 / 16 -> DX 100/3;
     adx(3) = (100 + 100/3) / 2 = 200/3; bar4 -DM 1 TR 4: mdm 2, pdm .5 -> DX 60;
     adx(4) = (200/3 + 60) / 2 = 190/3 *)
  check_series "adx 2" (Batch.adx high low close 2) [| nan; nan; nan; 200. /. 3.; 190. /. 3. |];
  (* mfi 2, typical prices 10 11 10 12, volumes 1 2 3 4: flows +22, -30, +48 *)
  let tp = [| 10.; 11.; 10.; 12. |] and vol = [| 1.; 2.; 3.; 4. |] in
  check_series "mfi 2" (Batch.mfi tp tp tp vol 2) [| nan; nan; 2200. /. 52.; 4800. /. 78. |];
  check_series "mfi below the 1.0 money-flow threshold is 0"
    (Batch.mfi tp tp tp (Array.make 4 0.01) 2) [| nan; nan; 0.; 0. |];
  check_series "obv" (Batch.obv [| 1.; 2.; 2.; 1.; 3. |] [| 10.; 20.; 30.; 40.; 50. |])
    [| 10.; 30.; 30.; -10.; 40. |];
  check_series "roc 2" (Batch.roc [| 2.; 4.; 8.; 0.; 5. |] 2) [| nan; nan; 300.; -100.; -37.5 |];
  check_series "roc of a zero base is 0" (Batch.roc [| 0.; 1.; 2. |] 2) [| nan; nan; 0. |];
  check_series "mom 2" (Batch.mom [| 1.; 4.; 9.; 16. |] 2) [| nan; nan; 8.; 12. |];
  (* windows of 3 over 3 1 4 1 5 9 2 6: [3 1 4] [1 4 1] [4 1 5] [1 5 9] [5 9 2] [9 2 6] *)
  check_series "highest 3" (Batch.highest [| 3.; 1.; 4.; 1.; 5.; 9.; 2.; 6. |] 3)
    [| nan; nan; 4.; 4.; 5.; 9.; 9.; 9. |];
  check_series "highest: shorter than the window" (Batch.highest [| 3.; 1. |] 3) [| nan; nan |];
  (* TA-Lib's tracked index, seen in the sign of a zero maximum: on -1 0 -1 -0
     (period 3) bar 2 scans and keeps the first strict maximum (bar 1, +0); at bar
     3 bar 1 is still inside and -0 >= +0 takes over. On 0 -0 -1 (period 2) bar 1
     scans [0, -0] (+0); at bar 2 bar 0 has left, the scan of [-0, -1] gives -0. *)
  List.iter
    (fun (name, xs, n, want) ->
      let bits a = Array.map (fun v -> Float.is_nan v || Float.sign_bit v) a in
      let s = Stream.highest n in
      let streamed = Array.map (fun h -> (Stream.update s ~high:h ~low:0. ~close:0. ~volume:0.).(0)) xs in
      check ("highest signed zero, batch: " ^ name)
        (Array.for_all2 same_bits (Batch.highest xs n) want && bits (Batch.highest xs n) = bits want);
      check ("highest signed zero, stream: " ^ name) (Array.for_all2 same_bits streamed want))
    [ ("rescan then take over", [| -1.; 0.; -1.; -0. |], 3, [| nan; nan; 0.; -0. |]);
      ("first strict maximum", [| 0.; -0.; -1. |], 2, [| nan; 0.; -0. |]) ];
  (* windows of 3 over 3 1 4 1 5 9 2 6: minima 1 1 1 1 2 2 *)
  check_series "lowest 3" (Batch.lowest [| 3.; 1.; 4.; 1.; 5.; 9.; 2.; 6. |] 3)
    [| nan; nan; 1.; 1.; 1.; 1.; 2.; 2. |];
  (* the mirror of highest's zeros: on 1 -0 1 0 (period 3) bar 2 scans and keeps
     bar 1 (-0, strictly below 1); at bar 3 bar 1 is inside and 0 <= -0 takes
     over (+0). On -0 0 1 (period 2) bar 1 scans [-0, 0] (-0); at bar 2 the scan
     of [0, 1] gives +0. *)
  List.iter
    (fun (name, xs, n, want) ->
      let bits a = Array.map (fun v -> Float.is_nan v || Float.sign_bit v) a in
      let s = Stream.lowest n in
      let streamed = Array.map (fun l -> (Stream.update s ~high:0. ~low:l ~close:0. ~volume:0.).(0)) xs in
      check ("lowest signed zero, batch: " ^ name)
        (Array.for_all2 same_bits (Batch.lowest xs n) want && bits (Batch.lowest xs n) = bits want);
      check ("lowest signed zero, stream: " ^ name) (Array.for_all2 same_bits streamed want))
    [ ("rescan then take over", [| 1.; -0.; 1.; 0. |], 3, [| nan; nan; -0.; 0. |]);
      ("first strict minimum", [| -0.; 0.; 1. |], 2, [| nan; -0.; 0. |]) ];
  (* stddev 3 on 1 2 3 4 6: window 1 2 3 -> mean 2, mean of squares 14/3, var 2/3;
     2 3 4 -> 3, 29/3, 2/3; 3 4 6 -> 13/3, 61/3, var 61/3 - 169/9 = 14/9 *)
  let x = [| 1.; 2.; 3.; 4.; 6. |] and sd1 = sqrt (2. /. 3.) and sd2 = sqrt 14. /. 3. in
  check_series "stddev 3" (Batch.stddev x 3 1.0) [| nan; nan; sd1; sd1; sd2 |];
  check_series "stddev 3, nbdev -2" (Batch.stddev x 3 (-2.0))
    [| nan; nan; -2. *. sd1; -2. *. sd1; -2. *. sd2 |];
  (* a constant window's variance is below 1e-14: +0.0 whatever the factor's sign *)
  check "stddev of a constant is +0"
    (Array.for_all2 same_bits (Batch.stddev (Array.make 4 7.) 2 (-3.0)) [| nan; 0.; 0.; 0. |])

(* ---------- series for the agreement tests ---------- *)

type bars = { h : float array; l : float array; c : float array; v : float array }

let make_bars st closes =
  let n = Array.length closes in
  let r () = Random.State.float st 0.01 in
  let h = Array.init n (fun i -> Float.max closes.(i) closes.(max 0 (i - 1)) *. (1. +. r ())) in
  let l = Array.init n (fun i -> Float.min closes.(i) closes.(max 0 (i - 1)) *. (1. -. r ())) in
  let v = Array.init n (fun i -> if i mod 7 = 3 then 0. else Random.State.float st 5000.) in
  { h; l; c = closes; v }

let series () =
  let st = Random.State.make [| 42 |] in
  let walk n =
    let p = ref 100. in
    Array.init n (fun _ -> p := !p *. exp (Random.State.float st 0.04 -. 0.02); !p)
  in
  let const_runs =
    let w = walk 400 in
    Array.mapi (fun i x -> if i >= 100 && i < 180 then w.(100) else x) w
  in
  let jumps = Array.init 400 (fun _ -> 10. ** (Random.State.float st 17. -. 8.)) in
  let tiny = Array.init 400 (fun i -> 1. +. (1e-9 *. float_of_int (i mod 5))) in
  [ ("walk", make_bars st (walk 400)); ("constant runs", make_bars st const_runs);
    ("jumps", make_bars st jumps); ("tiny range", make_bars st tiny) ]

(* Parameter sets of every registry indicator, from its parameters' kinds:
   set k gives parameter j the value choices.((k + j) mod 4), so a multi-parameter
   indicator sees its minimum, one above, a middle and a large value in varying
   combinations (MACD with fast > slow, Bollinger with a negative factor). *)
let param_sets (spec : Registry.spec) =
  let value k j (p : Registry.param) =
    match p.kind with
    | Registry.Int lo -> [| float lo; float (lo + 1); 7.; 33. |].((k + j) mod 4)
    | Registry.Real -> [| 2.; 1.; 0.5; -1. |].((k + j) mod 4)
  in
  let generated = List.init 4 (fun k -> Array.of_list (List.mapi (value k) spec.params)) in
  List.sort_uniq compare (Registry.defaults spec :: generated)

let input_of b = function
  | "high" -> b.h | "low" -> b.l | "close" -> b.c | "volume" -> b.v
  | s -> failwith s

let params_str p = String.concat "," (Array.to_list (Array.map (Printf.sprintf "%g") p))

(* every stream reproduces its batch, bit for bit, at every bar *)
let test_stream_equals_batch () =
  List.iter
    (fun (sname, b) ->
      List.iter
        (fun (spec : Registry.spec) ->
          List.iter
            (fun p ->
              let inputs = Array.of_list (List.map (input_of b) spec.inputs) in
              let expected = spec.batch inputs p in
              let s = spec.stream p in
              let bad = ref None in
              for t = 0 to Array.length b.c - 1 do
                let out = Stream.update s ~high:b.h.(t) ~low:b.l.(t) ~close:b.c.(t) ~volume:b.v.(t) in
                Array.iteri
                  (fun j x ->
                    if !bad = None && not (same_bits x expected.(j).(t)) then
                      bad := Some (t, j, x, expected.(j).(t)))
                  out
              done;
              let name = Printf.sprintf "stream = batch: %s(%s) on %s" spec.name (params_str p) sname in
              (match !bad with
               | Some (t, j, x, e) ->
                 Printf.printf "  %s: bar %d output %d: stream %.17g batch %.17g\n" name t j x e
               | None -> ());
              check name (!bad = None);
              check (name ^ ": n_outputs") (Stream.n_outputs s = List.length spec.outputs))
            (param_sets spec))
        Registry.all)
    (series ())

(* random parameters (TA-Lib's lower bounds up to 40) on random short series
   of random shapes, including lengths around the lookback *)
let test_stream_equals_batch_random () =
  let st = Random.State.make [| 2026 |] in
  let rand_series n =
    let base = 10. ** (Random.State.float st 12. -. 4.) in
    let p = ref base in
    let shape = Random.State.int st 3 in
    Array.init n (fun i ->
        (match shape with
         | 0 -> p := !p *. exp (Random.State.float st 0.1 -. 0.05)
         | 1 -> if i mod 9 < 4 then () else p := !p *. (1. +. Random.State.float st 0.01)
         | _ -> p := base *. (10. ** (Random.State.float st 6. -. 3.)));
        !p)
  in
  List.iter
    (fun (spec : Registry.spec) ->
      let bad = ref 0 in
      for _ = 1 to 40 do
        let p =
          Array.of_list
            (List.map
               (fun (p : Registry.param) ->
                 match p.kind with
                 | Registry.Real -> Random.State.float st 6. -. 2.
                 | Registry.Int lo -> float_of_int (lo + Random.State.int st 40))
               spec.params)
        in
        let n = Random.State.int st 120 in
        let b = make_bars st (rand_series n) in
        let inputs = Array.of_list (List.map (input_of b) spec.inputs) in
        let expected = spec.batch inputs p in
        let s = spec.stream p in
        for t = 0 to n - 1 do
          let out = Stream.update s ~high:b.h.(t) ~low:b.l.(t) ~close:b.c.(t) ~volume:b.v.(t) in
          Array.iteri (fun j x -> if not (same_bits x expected.(j).(t)) then incr bad) out
        done
      done;
      check (Printf.sprintf "stream = batch: %s, 40 random parameter sets and series" spec.name)
        (!bad = 0))
    Registry.all

(* leading nans = lookback on long input; all nan when the input is too short *)
let test_warmup () =
  let b = snd (List.hd (series ())) in
  List.iter
    (fun (spec : Registry.spec) ->
      List.iter
        (fun p ->
          let lb = spec.lookback p in
          let inputs = Array.of_list (List.map (input_of b) spec.inputs) in
          let outs = spec.batch inputs p in
          let name = Printf.sprintf "%s(%s)" spec.name (params_str p) in
          Array.iter
            (fun o ->
              let first = ref 0 in
              while !first < Array.length o && Float.is_nan o.(!first) do incr first done;
              check (name ^ ": leading nans = lookback") (!first = lb);
              check (name ^ ": finite after warm-up")
                (Array.for_all Float.is_finite (Array.sub o lb (Array.length o - lb))))
            outs;
          let short = Array.map (fun a -> Array.sub a 0 (min lb (Array.length a))) inputs in
          let outs = spec.batch short p in
          check (name ^ ": input of lookback length is all nan")
            (Array.for_all (fun o -> Array.length o = min lb 400 && Array.for_all Float.is_nan o) outs);
          let empty = spec.batch (Array.map (fun _ -> [||]) inputs) p in
          check (name ^ ": empty input gives empty output")
            (Array.for_all (fun o -> Array.length o = 0) empty))
        (param_sets spec))
    Registry.all

(* window extremes agree with a naive scan *)
let test_extreme () =
  let st = Random.State.make [| 7 |] in
  let xs = Array.init 500 (fun _ -> float_of_int (Random.State.int st 20)) in
  List.iter
    (fun p ->
      let mx = Extreme.create_max p and mn = Extreme.create_min p in
      let ok = ref true in
      Array.iteri
        (fun t x ->
          Extreme.push mx x;
          Extreme.push mn x;
          let lo = max 0 (t - p + 1) in
          let w = Array.sub xs lo (t - lo + 1) in
          if Extreme.current mx <> Array.fold_left Float.max neg_infinity w
             || Extreme.current mn <> Array.fold_left Float.min infinity w
          then ok := false)
        xs;
      check (Printf.sprintf "sliding extremes, window %d" p) !ok;
      (* keeping ties, the front is the first index of the extreme *)
      let mx = Extreme.create_max ~keep_ties:true p and mn = Extreme.create_min ~keep_ties:true p in
      let ok = ref true in
      Array.iteri
        (fun t x ->
          Extreme.push mx x;
          Extreme.push mn x;
          let lo = max 0 (t - p + 1) in
          let first f = let r = ref lo in for i = lo to t do if f xs.(i) xs.(!r) then r := i done; !r in
          if Extreme.current_index mx <> first ( > ) || Extreme.current_index mn <> first ( < )
          then ok := false)
        xs;
      check (Printf.sprintf "sliding extremes keeping ties: first index, window %d" p) !ok)
    [ 1; 2; 5; 50 ]

let spec name = Option.get (Registry.find name)

let test_bad_input () =
  let x = [| 1.; 2.; 3. |] in
  raises "sma period 0" (fun () -> Batch.sma x 0) [ "sma"; "period"; "0" ];
  raises "rsi period 1" (fun () -> Batch.rsi x 1) [ "rsi"; "period"; "1" ];
  raises "ema period too large" (fun () -> Batch.ema x 100001) [ "ema"; "period"; "100001" ];
  raises "macd signal 0" (fun () -> Batch.macd x 12 26 0) [ "macd"; "signal"; "0" ];
  raises "stoch slowd -1" (fun () -> Batch.stoch x x x 5 3 (-1)) [ "stoch"; "slowd"; "-1" ];
  raises "bollinger nan factor" (fun () -> Batch.bollinger x 2 nan 2.) [ "bollinger"; "nbdev_up"; "nan" ];
  raises "sma nan input" (fun () -> Batch.sma [| 1.; nan; 3. |] 2) [ "sma"; "close[1]"; "nan" ];
  raises "atr inf high" (fun () -> Batch.atr [| 1.; infinity |] x x 1) [ "atr"; "length" ];
  raises "atr inf high, same lengths" (fun () -> Batch.atr [| 1.; infinity; 2. |] x x 1)
    [ "atr"; "high[1]"; "inf" ];
  raises "mfi volume -inf" (fun () -> Batch.mfi x x x [| 1.; 1.; neg_infinity |] 2)
    [ "mfi"; "volume[2]"; "-inf" ];
  raises "highest nan high" (fun () -> Batch.highest [| 1.; nan; 2. |] 2) [ "highest"; "high[1]"; "nan" ];
  raises "highest period 1" (fun () -> Batch.highest x 1) [ "highest"; "period"; "1" ];
  raises "lowest inf low" (fun () -> Batch.lowest [| 1.; 2.; neg_infinity |] 2)
    [ "lowest"; "low[2]"; "-inf" ];
  raises "stddev nbdev too large" (fun () -> Batch.stddev x 2 4e37) [ "stddev"; "nbdev" ];
  raises "stddev nan close" (fun () -> Batch.stddev [| 1.; nan |] 2 1.0) [ "stddev"; "close[1]"; "nan" ];
  raises "obv length mismatch" (fun () -> Batch.obv x [| 1. |]) [ "obv"; "volume"; "1"; "3" ];
  raises "registry: fractional period" (fun () -> (spec "sma").batch [| x |] [| 2.5 |])
    [ "sma"; "period"; "2.5" ];
  raises "registry: huge period" (fun () -> (spec "wma").batch [| x |] [| 1e300 |]) [ "wma"; "period" ];
  raises "registry: nan period" (fun () -> (spec "ema").stream [| nan |]) [ "ema"; "period"; "nan" ];
  raises "registry: wrong param count" (fun () -> (spec "macd").batch [| x |] [| 12. |])
    [ "macd"; "3"; "fast, slow, signal"; "1" ];
  raises "registry: wrong input count" (fun () -> (spec "adx").batch [| x |] [| 14. |])
    [ "adx"; "high, low, close"; "1" ];
  raises "registry: stream period 0" (fun () -> (spec "cci").stream [| 0. |]) [ "cci"; "period"; "0" ];
  (* a rejected bar leaves the stream as it was *)
  let s = (spec "sma").stream [| 2. |] in
  ignore (Stream.update s ~high:0. ~low:0. ~close:1. ~volume:0.);
  raises "stream: nan close" (fun () -> Stream.update s ~high:0. ~low:0. ~close:nan ~volume:0.)
    [ "sma"; "close"; "nan" ];
  check "stream still usable after a rejected bar"
    ((Stream.update s ~high:0. ~low:0. ~close:3. ~volume:0.).(0) = 2.);
  let s = (spec "mfi").stream [| 2. |] in
  raises "stream: inf high" (fun () -> Stream.update ((spec "highest").stream [| 2. |])
                                 ~high:infinity ~low:1. ~close:1. ~volume:1.)
    [ "highest"; "high"; "inf" ];
  raises "stream: inf volume" (fun () -> Stream.update s ~high:1. ~low:1. ~close:1. ~volume:infinity)
    [ "mfi"; "volume"; "inf" ];
  (* inputs an indicator does not use are not checked *)
  let s = (spec "sma").stream [| 1. |] in
  check "stream ignores unused inputs"
    ((Stream.update s ~high:nan ~low:nan ~close:4. ~volume:nan).(0) = 4.)

(* TA-Lib's parameter ranges, as the registry states them: [lo, 100000] for
   every integer parameter, [-3e37, 3e37] for every real one *)
let test_param_ranges () =
  List.iter
    (fun (spec : Registry.spec) ->
      List.iteri
        (fun i (p : Registry.param) ->
          let with_value v =
            Array.mapi (fun j d -> if j = i then v else d) (Registry.defaults spec)
          in
          let lo, hi, above =
            match p.kind with
            | Registry.Int lo -> (float lo, float Batch.max_period, float (Batch.max_period + 1))
            | Registry.Real -> (-.Registry.real_max, Registry.real_max, Float.succ Registry.real_max)
          in
          let name = spec.name ^ " " ^ p.pname in
          raises (name ^ " below range") (fun () -> spec.stream (with_value (Float.pred lo)))
            [ spec.name; p.pname ];
          raises (name ^ " above range") (fun () -> spec.stream (with_value above))
            [ spec.name; p.pname ];
          raises (name ^ " nan") (fun () -> spec.stream (with_value nan)) [ spec.name; p.pname ];
          check (name ^ " accepts both ends")
            (Stream.n_outputs (spec.stream (with_value lo)) = List.length spec.outputs
             && Stream.n_outputs (spec.stream (with_value hi)) = List.length spec.outputs))
        spec.params)
    Registry.all

(* TA-Lib's lookback of each indicator's defaults, worked out by hand from its
   definition (e.g. macd 12/26/9: 26 - 1 + 9 - 1 = 33; adx 14: 2 * 14 - 1) *)
let default_lookbacks =
  [ ("sma", 29); ("ema", 29); ("wma", 29); ("rsi", 14); ("macd", 33); ("bollinger", 19);
    ("atr", 14); ("stoch", 8); ("willr", 13); ("cci", 13); ("adx", 27); ("mfi", 14);
    ("obv", 0); ("roc", 10); ("mom", 10); ("highest", 29);
    ("lowest", 29); ("stddev", 4) ]

let test_registry () =
  let names = List.map (fun (s : Registry.spec) -> s.name) Registry.all in
  check "registry: names are distinct" (List.length (List.sort_uniq compare names) = List.length names);
  List.iter
    (fun (s : Registry.spec) ->
      check ("registry: find " ^ s.name)
        (match Registry.find s.name with Some t -> t == s | None -> false);
      check (s.name ^ ": inputs are bar fields")
        (s.inputs <> []
         && List.for_all (fun i -> List.mem i [ "high"; "low"; "close"; "volume" ]) s.inputs);
      check (s.name ^ ": has outputs") (s.outputs <> []);
      check (s.name ^ ": defaults inside their ranges")
        (Stream.n_outputs (s.stream (Registry.defaults s)) = List.length s.outputs);
      match List.assoc_opt s.name default_lookbacks with
      | Some lb -> check (s.name ^ ": TA-Lib lookback of the defaults") (s.lookback (Registry.defaults s) = lb)
      | None -> check (s.name ^ ": has a hand-checked default lookback in default_lookbacks") false)
    Registry.all;
  check "registry: unknown name" (Registry.find "nope" = None);
  let params name = List.map (fun (p : Registry.param) -> (p.pname, p.default)) (spec name).params in
  check "registry: default params"
    (params "bollinger" = [ ("period", 20.); ("nbdev_up", 2.); ("nbdev_down", 2.) ]
     && params "stoch" = [ ("fastk", 5.); ("slowk", 3.); ("slowd", 3.) ]
     && (spec "macd").outputs = [ "macd"; "signal"; "histogram" ]
     && (spec "mfi").inputs = [ "high"; "low"; "close"; "volume" ]
     && (spec "obv").inputs = [ "close"; "volume" ])

let () =
  test_hand ();
  test_stream_equals_batch ();
  test_stream_equals_batch_random ();
  test_warmup ();
  test_extreme ();
  test_bad_input ();
  test_registry ();
  test_param_ranges ();
  Printf.printf "ocaml tests: %d passed, %d failed\n" !passed !failed;
  if !failed > 0 then exit 1
