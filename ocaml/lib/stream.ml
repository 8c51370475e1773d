(* Streaming indicators: one small state machine per indicator, updated once
   per bar, following the same TA-Lib evaluation order as Batch so that a
   stream fed a series reproduces the batch output bit for bit. *)

type t = {
  n_outputs : int;
  step : float -> float -> float -> float -> float array;  (* h l c v *)
}

let update t ~high ~low ~close ~volume = t.step high low close volume
let n_outputs t = t.n_outputs
let nan = Float.nan
let is_zero = Batch.is_zero
let per_to_k n = 2.0 /. float_of_int (n + 1)
let check_period fn ?(name = "period") ~lo p = Check.period fn name ~lo ~hi:Batch.max_period p

(* ---- scalar steppers: value in, value (nan during warm-up) out ---- *)

(* SMA: ring of the last n values; S takes the first n-1 values, then per bar
   S += x; out = S / n; S -= x[t-n+1]. *)
let sma_stepper n =
  let nf = float_of_int n in
  let ring = Array.make n 0.0 in
  let total = ref 0.0 and count = ref 0 in
  fun x ->
    let c = !count in
    incr count;
    ring.(c mod n) <- x;
    total := !total +. x;
    if c < n - 1 then nan
    else begin
      let r = !total in
      total := !total -. ring.((c + 1) mod n);
      r /. nf
    end

(* EMA seeded with the mean of its first n values. *)
let ema_stepper n =
  let nf = float_of_int n and k = per_to_k n in
  let acc = ref 0.0 and count = ref 0 in
  fun x ->
    let c = !count in
    if c < n then incr count;
    if c < n - 1 then (acc := !acc +. x; nan)
    else if c = n - 1 then (acc := (!acc +. x) /. nf; !acc)
    else (acc := ((x -. !acc) *. k) +. !acc; !acc)

let close_only fn f =
  { n_outputs = 1;
    step = (fun _ _ c _ -> Check.finite_value fn "close" c; [| f c |]) }

let hlc fn f =
  { n_outputs = 1;
    step =
      (fun h l c _ ->
        Check.finite_value fn "high" h;
        Check.finite_value fn "low" l;
        Check.finite_value fn "close" c;
        [| f h l c |]) }

(* ---- the indicators ---- *)

let sma period =
  check_period "sma" ~lo:1 period;
  close_only "sma" (sma_stepper period)

let ema period =
  check_period "ema" ~lo:1 period;
  close_only "ema" (ema_stepper period)

let wma period =
  check_period "wma" ~lo:1 period;
  let n = period in
  let nf = float_of_int n and divider = float_of_int (n * (n + 1) / 2) in
  let ring = Array.make n 0.0 in
  let psub = ref 0.0 and psum = ref 0.0 and trailing = ref 0.0 and count = ref 0 in
  close_only "wma" (fun x ->
      let c = !count in
      incr count;
      ring.(c mod n) <- x;
      if n = 1 then x
      else if c < n - 1 then begin
        psub := !psub +. x;
        psum := !psum +. (x *. float_of_int (c + 1));
        nan
      end else begin
        psub := !psub +. x;
        psub := !psub -. !trailing;
        psum := !psum +. (x *. nf);
        trailing := ring.((c + 1) mod n);
        let r = !psum /. divider in
        psum := !psum -. !psub;
        r
      end)

let rsi period =
  check_period "rsi" ~lo:2 period;
  let n = period in
  let nf = float_of_int n and nm1 = float_of_int (n - 1) in
  let gain = ref 0.0 and loss = ref 0.0 and prev = ref 0.0 and count = ref 0 in
  let value () =
    let s = !gain +. !loss in
    if is_zero s then 0.0 else 100.0 *. (!gain /. s)
  in
  close_only "rsi" (fun x ->
      let c = !count in
      if c <= n then incr count;
      let d = x -. !prev in
      prev := x;
      if c = 0 then nan
      else if c < n then begin
        if d < 0.0 then loss := !loss -. d else gain := !gain +. d;
        nan
      end else if c = n then begin
        if d < 0.0 then loss := !loss -. d else gain := !gain +. d;
        loss := !loss /. nf;
        gain := !gain /. nf;
        value ()
      end else begin
        loss := !loss *. nm1;
        gain := !gain *. nm1;
        if d < 0.0 then loss := !loss -. d else gain := !gain +. d;
        loss := !loss /. nf;
        gain := !gain /. nf;
        value ()
      end)

let macd fast slow signal =
  check_period "macd" ~name:"fast" ~lo:2 fast;
  check_period "macd" ~name:"slow" ~lo:2 slow;
  check_period "macd" ~name:"signal" ~lo:1 signal;
  let fast, slow = if slow < fast then (slow, fast) else (fast, slow) in
  let slow_e = ema_stepper slow and fast_e = ema_stepper fast in
  let sig_e = ema_stepper signal in
  let count = ref 0 in
  let none = [| nan; nan; nan |] in
  { n_outputs = 3;
    step =
      (fun _ _ x _ ->
        Check.finite_value "macd" "close" x;
        let c = !count in
        if c < slow then incr count;
        let s = slow_e x in
        (* the fast EMA's seed window ends on the slow one's *)
        if c < slow - fast then Array.copy none
        else begin
          let f = fast_e x in
          if c < slow - 1 then Array.copy none
          else begin
            let m = f -. s in
            let sg = sig_e m in
            if Float.is_nan sg then Array.copy none else [| m; sg; m -. sg |]
          end
        end) }

let bollinger period up down =
  check_period "bollinger" ~lo:2 period;
  Check.real "bollinger" "nbdev_up" ~lo:(-3e37) ~hi:3e37 up;
  Check.real "bollinger" "nbdev_down" ~lo:(-3e37) ~hi:3e37 down;
  let n = period in
  let nf = float_of_int n in
  let ring = Array.make n 0.0 in
  let total = ref 0.0 and q = ref 0.0 and count = ref 0 in
  { n_outputs = 3;
    step =
      (fun _ _ x _ ->
        Check.finite_value "bollinger" "close" x;
        let c = !count in
        incr count;
        ring.(c mod n) <- x;
        total := !total +. x;
        q := !q +. (x *. x);
        if c < n - 1 then [| nan; nan; nan |]
        else begin
          let old = ring.((c + 1) mod n) in
          let mid = !total /. nf in
          total := !total -. old;
          let m2 = !q /. nf in
          q := !q -. (old *. old);
          let m2 = m2 -. (mid *. mid) in
          let sd = if m2 < 1e-14 then 0.0 else sqrt m2 in
          [| mid +. (sd *. up); mid; mid -. (sd *. down) |]
        end) }

(* true range given the previous close *)
let true_range h l pc =
  let r = h -. l in
  let a = Float.abs (pc -. h) in
  let r = if a > r then a else r in
  let b = Float.abs (pc -. l) in
  if b > r then b else r

let atr period =
  check_period "atr" ~lo:1 period;
  let n = period in
  let nf = float_of_int n and nm1 = float_of_int (n - 1) in
  let prev_close = ref 0.0 and a = ref 0.0 and count = ref 0 in
  hlc "atr" (fun h l c ->
      let k = !count in
      if k <= n then incr count;
      let pc = !prev_close in
      prev_close := c;
      if k = 0 then nan
      else begin
        let tr = true_range h l pc in
        if n = 1 then tr
        else if k < n then (a := !a +. tr; nan)
        else if k = n then (a := (!a +. tr) /. nf; !a)
        else begin
          a := !a *. nm1;
          a := !a +. tr;
          a := !a /. nf;
          !a
        end
      end)

(* Steps HH/LL over the last p bars; [f hh ll c] once p bars were seen. *)
let with_extremes p f =
  let hi = Extreme.create_max p and lo = Extreme.create_min p in
  let count = ref 0 in
  fun h l c ->
    let k = !count in
    if k < p then incr count;
    Extreme.push lo l;
    Extreme.push hi h;
    if k < p - 1 then nan else f (Extreme.current hi) (Extreme.current lo) c

let stoch fastk slowk slowd =
  check_period "stoch" ~name:"fastk" ~lo:1 fastk;
  check_period "stoch" ~name:"slowk" ~lo:1 slowk;
  check_period "stoch" ~name:"slowd" ~lo:1 slowd;
  let fast =
    with_extremes fastk (fun hh ll c ->
        let diff = (hh -. ll) /. 100.0 in
        if diff <> 0.0 then (c -. ll) /. diff else 0.0)
  in
  let k_sma = sma_stepper slowk and d_sma = sma_stepper slowd in
  { n_outputs = 2;
    step =
      (fun h l c _ ->
        Check.finite_value "stoch" "high" h;
        Check.finite_value "stoch" "low" l;
        Check.finite_value "stoch" "close" c;
        let fk = fast h l c in
        if Float.is_nan fk then [| nan; nan |]
        else
          let k = k_sma fk in
          if Float.is_nan k then [| nan; nan |]
          else
            let d = d_sma k in
            if Float.is_nan d then [| nan; nan |] else [| k; d |]) }

let willr period =
  check_period "willr" ~lo:2 period;
  hlc "willr"
    (with_extremes period (fun hh ll c ->
         let diff = (hh -. ll) /. -100.0 in
         if diff <> 0.0 then (hh -. c) /. diff else 0.0))

let cci period =
  check_period "cci" ~lo:2 period;
  let n = period in
  let nf = float_of_int n in
  let buf = Array.make n 0.0 and count = ref 0 in
  hlc "cci" (fun h l c ->
      let k = !count in
      incr count;
      let tp = (h +. l +. c) /. 3.0 in
      (* bar k lives in slot k mod n; TA-Lib sums the slots in slot order,
         which costs O(n) per bar and is what makes the result bit-exact *)
      buf.(k mod n) <- tp;
      if k < n - 1 then nan
      else begin
        let avg = ref 0.0 in
        for j = 0 to n - 1 do avg := !avg +. buf.(j) done;
        let avg = !avg /. nf in
        let md = ref 0.0 in
        for j = 0 to n - 1 do md := !md +. Float.abs (buf.(j) -. avg) done;
        let dev = tp -. avg in
        if dev <> 0.0 && !md <> 0.0 then dev /. (0.015 *. (!md /. nf))
        else 0.0
      end)

let adx period =
  check_period "adx" ~lo:2 period;
  let n = period in
  let nf = float_of_int n and nm1 = float_of_int (n - 1) in
  let ph = ref 0.0 and pl = ref 0.0 and pc = ref 0.0 in
  let pdm = ref 0.0 and mdm = ref 0.0 and tr = ref 0.0 in
  let sum_dx = ref 0.0 and a = ref 0.0 and count = ref 0 in
  hlc "adx" (fun h l c ->
      let k = !count in
      if k < 2 * n then incr count;
      let up = h -. !ph and down = !pl -. l in
      let trv = true_range h l !pc in
      ph := h;
      pl := l;
      pc := c;
      if k = 0 then nan
      else if k < n then begin
        if down > 0.0 && up < down then mdm := !mdm +. down
        else if up > 0.0 && up > down then pdm := !pdm +. up;
        tr := !tr +. trv;
        nan
      end else begin
        mdm := !mdm -. (!mdm /. nf);
        pdm := !pdm -. (!pdm /. nf);
        if down > 0.0 && up < down then mdm := !mdm +. down
        else if up > 0.0 && up > down then pdm := !pdm +. up;
        tr := !tr -. (!tr /. nf) +. trv;
        let dx =
          if is_zero !tr then nan
          else
            let mdi = 100.0 *. (!mdm /. !tr) and pdi = 100.0 *. (!pdm /. !tr) in
            let s = mdi +. pdi in
            if is_zero s then nan else 100.0 *. (Float.abs (mdi -. pdi) /. s)
        in
        let has_dx = not (Float.is_nan dx) in
        if k < 2 * n - 1 then begin
          if has_dx then sum_dx := !sum_dx +. dx;
          nan
        end else if k = 2 * n - 1 then begin
          if has_dx then sum_dx := !sum_dx +. dx;
          a := !sum_dx /. nf;
          !a
        end else begin
          if has_dx then a := ((!a *. nm1) +. dx) /. nf;
          !a
        end
      end)

let mfi period =
  check_period "mfi" ~lo:2 period;
  let n = period in
  let pos_buf = Array.make n 0.0 and neg_buf = Array.make n 0.0 in
  let pos = ref 0.0 and neg = ref 0.0 and prev = ref 0.0 and count = ref 0 in
  { n_outputs = 1;
    step =
      (fun h l c v ->
        Check.finite_value "mfi" "high" h;
        Check.finite_value "mfi" "low" l;
        Check.finite_value "mfi" "close" c;
        Check.finite_value "mfi" "volume" v;
        let k = !count in
        incr count;
        let tp = (h +. l +. c) /. 3.0 in
        if k = 0 then (prev := tp; [| nan |])
        else begin
          (* bar k >= 1 uses slot (k - 1) mod n; past the seed, drop the
             bar leaving the window first *)
          let slot = (k - 1) mod n in
          if k > n then begin
            pos := !pos -. pos_buf.(slot);
            neg := !neg -. neg_buf.(slot)
          end;
          let d = tp -. !prev in
          prev := tp;
          let flow = tp *. v in
          if d < 0.0 then begin
            neg_buf.(slot) <- flow; neg := !neg +. flow; pos_buf.(slot) <- 0.0
          end else if d > 0.0 then begin
            pos_buf.(slot) <- flow; pos := !pos +. flow; neg_buf.(slot) <- 0.0
          end else begin
            pos_buf.(slot) <- 0.0; neg_buf.(slot) <- 0.0
          end;
          if k < n then [| nan |]
          else
            let s = !pos +. !neg in
            [| (if s < 1.0 then 0.0 else 100.0 *. (!pos /. s)) |]
        end) }

let obv () =
  let acc = ref 0.0 and prev = ref 0.0 and started = ref false in
  { n_outputs = 1;
    step =
      (fun _ _ c v ->
        Check.finite_value "obv" "close" c;
        Check.finite_value "obv" "volume" v;
        if not !started then begin
          started := true;
          acc := v
        end
        else if c > !prev then acc := !acc +. v
        else if c < !prev then acc := !acc -. v;
        prev := c;
        [| !acc |]) }

(* ring of the last n closes: slot t mod n holds x[t-n] before it is overwritten *)
let lagged fn period f =
  check_period fn ~lo:1 period;
  let n = period in
  let ring = Array.make n 0.0 and count = ref 0 in
  close_only fn (fun x ->
      let k = !count in
      incr count;
      let slot = k mod n in
      let old = ring.(slot) in
      ring.(slot) <- x;
      if k < n then nan else f x old)

let roc period =
  lagged "roc" period (fun x old ->
      if old <> 0.0 then ((x /. old) -. 1.0) *. 100.0 else 0.0)

let mom period = lagged "mom" period (fun x old -> x -. old)

(* TA-Lib's MAX/MIN index tracking (see Batch.highest) with a tie-keeping
   monotonic deque in place of the rescan: its front is the window's first
   strict extreme, the index a rescan finds, in amortised O(1). *)
let tracked_extreme ~is_max period =
  let d =
    if is_max then Extreme.create_max ~keep_ties:true period
    else Extreme.create_min ~keep_ties:true period
  in
  let count = ref 0 and at = ref (-1) and best = ref 0.0 in
  fun x ->
    let t = !count in
    incr count;
    Extreme.push d x;
    if t < period - 1 then nan
    else begin
      if !at < t - period + 1 then begin
        at := Extreme.current_index d;
        best := Extreme.current d
      end
      else if (if is_max then x >= !best else x <= !best) then begin
        at := t;
        best := x
      end;
      !best
    end

let highest period =
  check_period "highest" ~lo:2 period;
  let f = tracked_extreme ~is_max:true period in
  { n_outputs = 1;
    step = (fun h _ _ _ -> Check.finite_value "highest" "high" h; [| f h |]) }

let lowest period =
  check_period "lowest" ~lo:2 period;
  let f = tracked_extreme ~is_max:false period in
  { n_outputs = 1;
    step = (fun _ l _ _ -> Check.finite_value "lowest" "low" l; [| f l |]) }

let stddev period nbdev =
  check_period "stddev" ~lo:2 period;
  Check.real "stddev" "nbdev" ~lo:(-3e37) ~hi:3e37 nbdev;
  let n = period in
  let nf = float_of_int n in
  let ring = Array.make n 0.0 in
  let s1 = ref 0.0 and s2 = ref 0.0 and count = ref 0 in
  close_only "stddev" (fun x ->
      let c = !count in
      incr count;
      ring.(c mod n) <- x;
      s1 := !s1 +. x;
      s2 := !s2 +. (x *. x);
      if c < n - 1 then nan
      else begin
        let old = ring.((c + 1) mod n) in
        let m1 = !s1 /. nf and m2 = !s2 /. nf in
        s1 := !s1 -. old;
        s2 := !s2 -. (old *. old);
        let var = m2 -. (m1 *. m1) in
        if var < 1e-14 then 0.0 else sqrt var *. nbdev
      end)
