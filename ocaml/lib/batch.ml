(* Batch indicators, transcribed from TA-Lib 0.7.1's C loops in the same
   evaluation order (see docs/talib_notes.md). Outputs have the input's length,
   with nan for the first [lookback] positions. *)

let max_period = 100_000

(* An output of [len] whose first [lookback] values are nan; the caller writes
   every later position (no fill pass over the whole array). *)
let nan_head len lookback =
  let a = Array.create_float len in
  Array.fill a 0 (min (max lookback 0) len) Float.nan;
  a

let nan_array n = Array.make n Float.nan

(* TA-Lib's zero test (TA_IS_ZERO). *)
let[@inline] is_zero v = -1e-14 < v && v < 1e-14

let check_period fn ?(name = "period") ~lo p = Check.period fn name ~lo ~hi:max_period p

module type S = sig
  val sma : float array -> int -> float array
  val ema : float array -> int -> float array
  val wma : float array -> int -> float array
  val rsi : float array -> int -> float array
  val macd : float array -> int -> int -> int -> float array * float array * float array
  val bollinger : float array -> int -> float -> float -> float array * float array * float array
  val atr : float array -> float array -> float array -> int -> float array
  val stoch :
    float array -> float array -> float array -> int -> int -> int -> float array * float array
  val willr : float array -> float array -> float array -> int -> float array
  val cci : float array -> float array -> float array -> int -> float array
  val adx : float array -> float array -> float array -> int -> float array
  val mfi : float array -> float array -> float array -> float array -> int -> float array
  val obv : float array -> float array -> float array
  val roc : float array -> int -> float array
  val mom : float array -> int -> float array
  val highest : float array -> int -> float array
  val lowest : float array -> int -> float array
  val stddev : float array -> int -> float -> float array
end

(* The indicators, parameterised by the finiteness check of their inputs:
   the public ones scan every input; [Trusted] is for a caller that already
   did (the server validates while decoding a request). *)
module Make (Finite : sig val check : string -> string -> float array -> unit end) : S = struct

let check_input fn name x = Finite.check fn name x

let check_hlc fn high low close =
  Check.same_length fn [ ("high", high); ("low", low); ("close", close) ];
  check_input fn "high" high;
  check_input fn "low" low;
  check_input fn "close" close

(* TA_INT_SMA over x[start..], writing out.(i) for i >= start + n - 1. *)
let sma_from x start n out =
  let len = Array.length x in
  if len - start >= n then begin
    let nf = float_of_int n in
    let total = ref 0.0 in
    for i = start to start + n - 2 do total := !total +. x.(i) done;
    for i = start + n - 1 to len - 1 do
      total := !total +. x.(i);
      let t = !total in
      total := !total -. x.(i - n + 1);
      out.(i) <- t /. nf
    done
  end

(* TA_INT_EMA over x[start..] with factor k: seeded with the mean of the first
   n values (summed from 0.0), first output at start + n - 1. *)
let ema_from x start n k out =
  let len = Array.length x in
  if len - start >= n then begin
    let s = ref 0.0 in
    for i = start to start + n - 1 do s := !s +. x.(i) done;
    let prev = ref (!s /. float_of_int n) in
    out.(start + n - 1) <- !prev;
    for i = start + n to len - 1 do
      prev := ((x.(i) -. !prev) *. k) +. !prev;
      out.(i) <- !prev
    done
  end

let per_to_k n = 2.0 /. float_of_int (n + 1)

let sma x period =
  check_period "sma" ~lo:1 period;
  check_input "sma" "close" x;
  let out = nan_head (Array.length x) (period - 1) in
  sma_from x 0 period out;
  out

let ema x period =
  check_period "ema" ~lo:1 period;
  check_input "ema" "close" x;
  let out = nan_head (Array.length x) (period - 1) in
  ema_from x 0 period (per_to_k period) out;
  out

let wma x period =
  check_period "wma" ~lo:1 period;
  check_input "wma" "close" x;
  let len = Array.length x in
  let out = nan_head len (period - 1) in
  if period = 1 then Array.blit x 0 out 0 len
  else if len >= period then begin
    let n = period in
    let nf = float_of_int n in
    let divider = float_of_int (n * (n + 1) / 2) in
    let psub = ref 0.0 and psum = ref 0.0 in
    for i = 0 to n - 2 do
      psub := !psub +. x.(i);
      psum := !psum +. (x.(i) *. float_of_int (i + 1))
    done;
    let trailing = ref 0.0 in
    for t = n - 1 to len - 1 do
      let v = x.(t) in
      psub := !psub +. v;
      psub := !psub -. !trailing;
      psum := !psum +. (v *. nf);
      trailing := x.(t - n + 1);
      out.(t) <- !psum /. divider;
      psum := !psum -. !psub
    done
  end;
  out

let rsi x period =
  check_period "rsi" ~lo:2 period;
  check_input "rsi" "close" x;
  let len = Array.length x in
  let out = nan_head len period in
  if len > period then begin
    let nf = float_of_int period and nm1 = float_of_int (period - 1) in
    (* plain loops over local refs: OCaml keeps them unboxed *)
    let gain = ref 0.0 and loss = ref 0.0 in
    for t = 1 to period do
      let d = x.(t) -. x.(t - 1) in
      if d < 0.0 then loss := !loss -. d else gain := !gain +. d
    done;
    loss := !loss /. nf;
    gain := !gain /. nf;
    for t = period to len - 1 do
      if t > period then begin
        let d = x.(t) -. x.(t - 1) in
        loss := !loss *. nm1;
        gain := !gain *. nm1;
        if d < 0.0 then loss := !loss -. d else gain := !gain +. d;
        loss := !loss /. nf;
        gain := !gain /. nf
      end;
      let s = !gain +. !loss in
      out.(t) <- (if is_zero s then 0.0 else 100.0 *. (!gain /. s))
    done
  end;
  out

let macd x fast slow signal =
  check_period "macd" ~name:"fast" ~lo:2 fast;
  check_period "macd" ~name:"slow" ~lo:2 slow;
  check_period "macd" ~name:"signal" ~lo:1 signal;
  check_input "macd" "close" x;
  let fast, slow = if slow < fast then (slow, fast) else (fast, slow) in
  let len = Array.length x in
  let lookback = slow - 1 + (signal - 1) in
  let m = nan_head len lookback and s = nan_head len lookback and h = nan_head len lookback in
  if len > lookback then begin
    let slow_e = Array.create_float len and fast_e = Array.create_float len in
    ema_from x 0 slow (per_to_k slow) slow_e;
    (* the fast EMA's seed window ends on the slow one's: x[slow-fast .. slow-1] *)
    ema_from x (slow - fast) fast (per_to_k fast) fast_e;
    let full = Array.create_float len in  (* read from slow - 1 only *)
    for t = slow - 1 to len - 1 do full.(t) <- fast_e.(t) -. slow_e.(t) done;
    ema_from full (slow - 1) signal (per_to_k signal) s;
    for t = lookback to len - 1 do
      m.(t) <- full.(t);
      h.(t) <- full.(t) -. s.(t)
    done
  end;
  (m, s, h)

let bollinger x period up down =
  check_period "bollinger" ~lo:2 period;
  Check.real "bollinger" "nbdev_up" ~lo:(-3e37) ~hi:3e37 up;
  Check.real "bollinger" "nbdev_down" ~lo:(-3e37) ~hi:3e37 down;
  check_input "bollinger" "close" x;
  let len = Array.length x in
  let upper = nan_head len (period - 1) and mid = nan_head len (period - 1)
  and lower = nan_head len (period - 1) in
  if len >= period then begin
    let n = period in
    let nf = float_of_int n in
    sma_from x 0 n mid;
    (* TA_INT_stddev_using_precalc_ma: running sum of squares *)
    let q = ref 0.0 in
    for i = 0 to n - 2 do q := !q +. (x.(i) *. x.(i)) done;
    for t = n - 1 to len - 1 do
      q := !q +. (x.(t) *. x.(t));
      let m2 = !q /. nf in
      let old = x.(t - n + 1) in
      q := !q -. (old *. old);
      let md = mid.(t) in
      let m2 = m2 -. (md *. md) in
      let sd = if m2 < 1e-14 then 0.0 else sqrt m2 in
      (* TA-Lib's branches on factors of exactly 1.0 skip a multiply that is
         exact anyway, so one formula reproduces all of them *)
      upper.(t) <- md +. (sd *. up);
      lower.(t) <- md -. (sd *. down)
    done
  end;
  (upper, mid, lower)

(* TRANGE at bar t >= 1 in TA-Lib's comparison order. *)
let[@inline] true_range high low close t =
  let h = high.(t) and l = low.(t) and pc = close.(t - 1) in
  let r = h -. l in
  let a = Float.abs (pc -. h) in
  let r = if a > r then a else r in
  let b = Float.abs (pc -. l) in
  if b > r then b else r

let atr high low close period =
  check_period "atr" ~lo:1 period;
  check_hlc "atr" high low close;
  let len = Array.length close in
  let out = nan_head len period in
  if period = 1 then
    for t = 1 to len - 1 do out.(t) <- true_range high low close t done
  else if len > period then begin
    let nf = float_of_int period and nm1 = float_of_int (period - 1) in
    let s = ref 0.0 in
    for t = 1 to period do s := !s +. true_range high low close t done;
    let a = ref (!s /. nf) in
    out.(period) <- !a;
    for t = period + 1 to len - 1 do
      a := !a *. nm1;
      a := !a +. true_range high low close t;
      a := !a /. nf;
      out.(t) <- !a
    done
  end;
  out

(* Sliding-window extreme of the [p] values ending at each t (monotonic
   deque of indices). TA-Lib rescans when its extreme leaves the window; the
   extreme value is the same, in amortised O(1) per bar. *)
let sliding_extreme ~is_max a p =
  let n = Array.length a in
  let out = nan_array n in
  let dq = Array.make (max n 1) 0 in
  let head = ref 0 and tail = ref 0 in
  for t = 0 to n - 1 do
    if !tail > !head && dq.(!head) <= t - p then incr head;
    let v = a.(t) in
    if is_max then
      while !tail > !head && a.(dq.(!tail - 1)) <= v do decr tail done
    else
      while !tail > !head && a.(dq.(!tail - 1)) >= v do decr tail done;
    dq.(!tail) <- t;
    incr tail;
    out.(t) <- a.(dq.(!head))
  done;
  out

let stoch high low close fastk slowk slowd =
  check_period "stoch" ~name:"fastk" ~lo:1 fastk;
  check_period "stoch" ~name:"slowk" ~lo:1 slowk;
  check_period "stoch" ~name:"slowd" ~lo:1 slowd;
  check_hlc "stoch" high low close;
  let len = Array.length close in
  let lookback = fastk - 1 + (slowk - 1) + (slowd - 1) in
  let k = nan_head len lookback and d = nan_head len lookback in
  if len > lookback then begin
    let hh = sliding_extreme ~is_max:true high fastk in
    let ll = sliding_extreme ~is_max:false low fastk in
    let fk = nan_array len and sk = nan_array len in
    for t = fastk - 1 to len - 1 do
      let diff = (hh.(t) -. ll.(t)) /. 100.0 in
      fk.(t) <- (if diff <> 0.0 then (close.(t) -. ll.(t)) /. diff else 0.0)
    done;
    sma_from fk (fastk - 1) slowk sk;
    sma_from sk (fastk - 1 + (slowk - 1)) slowd d;
    Array.blit sk lookback k lookback (len - lookback)
  end;
  (k, d)

let willr high low close period =
  check_period "willr" ~lo:2 period;
  check_hlc "willr" high low close;
  let len = Array.length close in
  let out = nan_head len (period - 1) in
  if len >= period then begin
    let hh = sliding_extreme ~is_max:true high period in
    let ll = sliding_extreme ~is_max:false low period in
    for t = period - 1 to len - 1 do
      let diff = (hh.(t) -. ll.(t)) /. -100.0 in
      out.(t) <- (if diff <> 0.0 then (hh.(t) -. close.(t)) /. diff else 0.0)
    done
  end;
  out

let cci high low close period =
  check_period "cci" ~lo:2 period;
  check_hlc "cci" high low close;
  let len = Array.length close in
  let out = nan_head len (period - 1) in
  if len >= period then begin
    let n = period in
    let nf = float_of_int n in
    (* bar t lives in slot t mod n; sums run over the slots in slot order *)
    let buf = Array.make n 0.0 in
    for t = 0 to len - 1 do
      let tp = (high.(t) +. low.(t) +. close.(t)) /. 3.0 in
      buf.(t mod n) <- tp;
      if t >= n - 1 then begin
        let avg = ref 0.0 in
        for j = 0 to n - 1 do avg := !avg +. buf.(j) done;
        let avg = !avg /. nf in
        let md = ref 0.0 in
        for j = 0 to n - 1 do md := !md +. Float.abs (buf.(j) -. avg) done;
        let dev = tp -. avg in
        out.(t) <-
          (if dev <> 0.0 && !md <> 0.0 then
             dev /. (0.015 *. (!md /. nf))
           else 0.0)
      end
    done
  end;
  out

let adx high low close period =
  check_period "adx" ~lo:2 period;
  check_hlc "adx" high low close;
  let len = Array.length close in
  let n = period in
  let out = nan_head len ((2 * n) - 1) in
  if len > 2 * n - 1 then begin
    let nf = float_of_int n and nm1 = float_of_int (n - 1) in
    let pdm = ref 0.0 and mdm = ref 0.0 and tr = ref 0.0 in
    for t = 1 to n - 1 do
      let up = high.(t) -. high.(t - 1) and down = low.(t - 1) -. low.(t) in
      if down > 0.0 && up < down then mdm := !mdm +. down
      else if up > 0.0 && up > down then pdm := !pdm +. up;
      tr := !tr +. true_range high low close t
    done;
    let sum_dx = ref 0.0 and a = ref 0.0 in
    for t = n to len - 1 do
      let up = high.(t) -. high.(t - 1) and down = low.(t - 1) -. low.(t) in
      mdm := !mdm -. (!mdm /. nf);
      pdm := !pdm -. (!pdm /. nf);
      if down > 0.0 && up < down then mdm := !mdm +. down
      else if up > 0.0 && up > down then pdm := !pdm +. up;
      tr := !tr -. (!tr /. nf) +. true_range high low close t;
      (* a bar failing either zero test contributes no DX *)
      let dx =
        if is_zero !tr then nan
        else
          let mdi = 100.0 *. (!mdm /. !tr) and pdi = 100.0 *. (!pdm /. !tr) in
          let s = mdi +. pdi in
          if is_zero s then nan else 100.0 *. (Float.abs (mdi -. pdi) /. s)
      in
      let has_dx = not (Float.is_nan dx) in
      if t < (2 * n) - 1 then (if has_dx then sum_dx := !sum_dx +. dx)
      else begin
        if t = (2 * n) - 1 then begin
          if has_dx then sum_dx := !sum_dx +. dx;
          a := !sum_dx /. nf
        end
        else if has_dx then a := ((!a *. nm1) +. dx) /. nf;
        out.(t) <- !a
      end
    done
  end;
  out

let mfi high low close volume period =
  check_period "mfi" ~lo:2 period;
  Check.same_length "mfi"
    [ ("high", high); ("low", low); ("close", close); ("volume", volume) ];
  check_input "mfi" "high" high;
  check_input "mfi" "low" low;
  check_input "mfi" "close" close;
  check_input "mfi" "volume" volume;
  let len = Array.length close in
  let n = period in
  let out = nan_head len n in
  if len > n then begin
    let pos_buf = Array.make n 0.0 and neg_buf = Array.make n 0.0 in
    let pos = ref 0.0 and neg = ref 0.0 in
    let prev = ref ((high.(0) +. low.(0) +. close.(0)) /. 3.0) in
    for t = 1 to len - 1 do
      (* bar t uses slot (t - 1) mod n; past the seed, the bar leaving the
         window is removed first *)
      let slot = (t - 1) mod n in
      if t > n then begin
        pos := !pos -. pos_buf.(slot);
        neg := !neg -. neg_buf.(slot)
      end;
      let tp = (high.(t) +. low.(t) +. close.(t)) /. 3.0 in
      let d = tp -. !prev in
      prev := tp;
      let flow = tp *. volume.(t) in
      if d < 0.0 then begin
        neg_buf.(slot) <- flow; neg := !neg +. flow; pos_buf.(slot) <- 0.0
      end else if d > 0.0 then begin
        pos_buf.(slot) <- flow; pos := !pos +. flow; neg_buf.(slot) <- 0.0
      end else begin
        pos_buf.(slot) <- 0.0; neg_buf.(slot) <- 0.0
      end;
      if t >= n then begin
        let s = !pos +. !neg in
        out.(t) <- (if s < 1.0 then 0.0 else 100.0 *. (!pos /. s))
      end
    done
  end;
  out

let obv close volume =
  Check.same_length "obv" [ ("close", close); ("volume", volume) ];
  check_input "obv" "close" close;
  check_input "obv" "volume" volume;
  let len = Array.length close in
  let out = nan_head len 0 in
  if len > 0 then begin
    let acc = ref volume.(0) and prev = ref close.(0) in
    for t = 0 to len - 1 do
      let c = close.(t) in
      if c > !prev then acc := !acc +. volume.(t)
      else if c < !prev then acc := !acc -. volume.(t);
      out.(t) <- !acc;
      prev := c
    done
  end;
  out

let roc x period =
  check_period "roc" ~lo:1 period;
  check_input "roc" "close" x;
  let out = nan_head (Array.length x) period in
  for t = period to Array.length x - 1 do
    let old = x.(t - period) in
    out.(t) <- (if old <> 0.0 then ((x.(t) /. old) -. 1.0) *. 100.0 else 0.0)
  done;
  out

(* TA-Lib's MAX (is_max) or MIN loop: the extreme's index [at] is kept; when
   it leaves the window the window is rescanned for its first strict extreme,
   otherwise a new value at least as extreme takes over. Rescans make it
   O(period) per bar at worst, as in TA-Lib; the index decides the sign of a
   zero extreme. *)
let talib_extreme ~is_max x period =
  let len = Array.length x in
  let out = nan_head len (period - 1) in
  let beats a b = if is_max then a > b else a < b in
  let at = ref (-1) and best = ref 0.0 in
  for today = period - 1 to len - 1 do
    let trailing = today - period + 1 in
    let v = x.(today) in
    if !at < trailing then begin
      at := trailing;
      best := x.(trailing);
      for i = trailing + 1 to today do
        if beats x.(i) !best then begin at := i; best := x.(i) end
      done
    end
    else if (if is_max then v >= !best else v <= !best) then begin
      at := today;
      best := v
    end;
    out.(today) <- !best
  done;
  out

let highest x period =
  check_period "highest" ~lo:2 period;
  check_input "highest" "high" x;
  talib_extreme ~is_max:true x period

let lowest x period =
  check_period "lowest" ~lo:2 period;
  check_input "lowest" "low" x;
  talib_extreme ~is_max:false x period

(* TA_INT_VAR then TA-Lib STDDEV's square root: both running sums take the new
   value, the variance is mean2 - mean1 * mean1, then both drop the oldest. *)
let stddev x period nbdev =
  check_period "stddev" ~lo:2 period;
  Check.real "stddev" "nbdev" ~lo:(-3e37) ~hi:3e37 nbdev;
  check_input "stddev" "close" x;
  let len = Array.length x in
  let out = nan_head len (period - 1) in
  if len >= period then begin
    let nf = float_of_int period in
    let s1 = ref 0.0 and s2 = ref 0.0 in
    for i = 0 to period - 2 do
      s1 := !s1 +. x.(i);
      s2 := !s2 +. (x.(i) *. x.(i))
    done;
    for today = period - 1 to len - 1 do
      let v = x.(today) in
      s1 := !s1 +. v;
      s2 := !s2 +. (v *. v);
      let m1 = !s1 /. nf and m2 = !s2 /. nf in
      let old = x.(today - period + 1) in
      s1 := !s1 -. old;
      s2 := !s2 -. (old *. old);
      let var = m2 -. (m1 *. m1) in
      out.(today) <- (if var < 1e-14 then 0.0 else sqrt var *. nbdev)
    done
  end;
  out

let mom x period =
  check_period "mom" ~lo:1 period;
  check_input "mom" "close" x;
  let out = nan_head (Array.length x) period in
  for t = period to Array.length x - 1 do out.(t) <- x.(t) -. x.(t - period) done;
  out

end

include Make (struct let check = Check.finite_array end)
module Trusted = Make (struct let check _ _ _ = () end)
