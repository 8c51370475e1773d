(** Batch indicators with TA-Lib 0.7.1 semantics (docs/design.md §3).

    Each function takes whole series (oldest first) and returns arrays of the
    same length whose first [lookback] entries are [nan] (TA-Lib's
    convention, unstable period 0, classic compatibility). A series not longer
    than the lookback gives all [nan] (not an error). Operations follow
    TA-Lib's C evaluation order, so results are meant to be bit-identical to
    [talib] 0.7.1.

    Errors: a period outside TA-Lib's range, a non-finite input value or
    inputs of different lengths raise [Invalid_argument msg]; [msg] starts
    with the indicator name and names the argument and the value, e.g.
    ["rsi: period must be an integer in [2, 100000], got 1"],
    ["atr: close[7] is not finite (nan)"]. All periods are at most 100000. *)

module type S = sig
  val sma : float array -> int -> float array
  (** [sma x n], n >= 1. Lookback [n - 1]. A running sum S starts at 0.0 and
      takes x[0..n-2]; then per bar S += x[t]; out = S / n; S -= x[t-n+1]. *)

  val ema : float array -> int -> float array
  (** [ema x n], n >= 1. Lookback [n - 1]; k = 2 / (n + 1). Seed: the mean
      (0.0 + x[0] + ... + x[n-1]) / n is the output at bar n-1; then
      prev = ((x[t] - prev) * k) + prev (also for n = 1, as TA-Lib). *)

  val wma : float array -> int -> float array
  (** [wma x n], n >= 1. Lookback [n - 1]; weights 1..n (newest heaviest),
      divisor n(n+1)/2. TA-Lib's running form: a plain sum and a weighted sum
      are updated per bar and drift the way TA-Lib's do. n = 1 copies x.
      Deviation: TA-Lib 0.7.1 computes the divisor in 32-bit C [int], which
      overflows for n >= 46341 (its WMA is then meaningless, e.g. negative for
      positive prices); we use the true n(n+1)/2, as engine.indicators does. *)

  val rsi : float array -> int -> float array
  (** [rsi x n], n >= 2. Lookback [n]. Seed: gains and losses of the diffs
      x[1]-x[0] .. x[n]-x[n-1] summed and divided by n; later bars use Wilder's
      smoothing (avg * (n-1) + new) / n. Output 100 * gain / (gain + loss), or
      0.0 when the sum is within 1e-14 of zero (so a constant series gives 0). *)

  val macd : float array -> int -> int -> int -> float array * float array * float array
  (** [macd x fast slow signal] = (macd, signal, histogram); fast, slow >= 2
      (swapped when slow < fast), signal >= 1. Lookback
      [(slow - 1) + (signal - 1)]. The slow EMA is seeded with the mean of
      x[0..slow-1], the fast EMA with the mean of x[slow-fast..slow-1] (its seed
      window ends on the same bar); macd = fast - slow from bar slow-1; the
      signal line is an EMA of the macd series seeded with the mean of its
      first [signal] values; histogram = macd - signal. All three outputs start
      at the lookback. *)

  val bollinger : float array -> int -> float -> float -> float array * float array * float array
  (** [bollinger x n up down] = (upper, middle, lower); n >= 2, factors finite in
      [-3e37, 3e37]. Lookback [n - 1]. middle = SMA; the population variance
      is Q/n - middle^2 from a running sum of squares Q (added before,
      removed after the division); sd = 0 when that is below 1e-14, else its
      square root; upper = middle + sd * up, lower = middle - sd * down. *)

  val atr : float array -> float array -> float array -> int -> float array
  (** [atr high low close n], n >= 1. Lookback [n]. True range from bar 1:
      max(high - low, |close[t-1] - high|, |close[t-1] - low|). Seed: the mean
      (0.0 + TR[1] + ... + TR[n]) / n at bar n; then a = ((a * (n-1)) + TR) / n.
      n = 1 is the true range itself. *)

  val stoch :
    float array -> float array -> float array -> int -> int -> int ->
    float array * float array
  (** [stoch high low close fastk slowk slowd] = (k, d), all periods >= 1, SMA
      smoothing. Lookback [(fastk-1) + (slowk-1) + (slowd-1)]. fastK =
      (close - LL) / ((HH - LL) / 100), or 0.0 when HH = LL, over the last
      [fastk] bars; k = SMA(fastK, slowk), d = SMA(k, slowd); k is reported from
      d's first bar. *)

  val willr : float array -> float array -> float array -> int -> float array
  (** [willr high low close n], n >= 2. Lookback [n - 1].
      out = (HH - close) / ((HH - LL) / -100), or 0.0 when HH = LL. *)

  val cci : float array -> float array -> float array -> int -> float array
  (** [cci high low close n], n >= 2. Lookback [n - 1]. TP = (h + l + c) / 3 in
      an n-slot circular buffer (bar t in slot t mod n); avg and the mean
      deviation are summed in slot order; out = (TP - avg) / (0.015 * md / n),
      or 0.0 when TP - avg or the deviation sum is exactly 0 (TA-Lib 0.7.1
      tests [!= 0.0] here, so a constant window can give +-66.67 from rounding). *)

  val adx : float array -> float array -> float array -> int -> float array
  (** [adx high low close n], n >= 2. Lookback [2n - 1]. +DM/-DM (ties give
      neither) and TR are summed over bars 1..n-1, then Wilder-smoothed
      (v - v/n + new) over bars n..2n-1 while the DX values are summed; the
      first ADX is that sum / n at bar 2n-1, then adx = (adx * (n-1) + dx) / n.
      A bar whose TR or DI sum is within 1e-14 of zero contributes no DX and
      leaves the ADX unchanged. *)

  val mfi : float array -> float array -> float array -> float array -> int -> float array
  (** [mfi high low close volume n], n >= 2. Lookback [n]. TP = (h + l + c) / 3;
      money flow TP * volume is positive when TP rose, negative when it fell,
      neither when unchanged; running sums over an n-slot ring. out = 0.0 when
      pos + neg < 1.0 (TA-Lib's absolute threshold), else 100 * pos / (pos + neg). *)

  val obv : float array -> float array -> float array
  (** [obv close volume]. Lookback 0: obv[0] = volume[0], then + volume when the
      close rose, - volume when it fell. *)

  val roc : float array -> int -> float array
  (** [roc x n], n >= 1. Lookback [n]. ((x[t] / x[t-n]) - 1) * 100, or 0.0 when
      x[t-n] is 0. *)

  val mom : float array -> int -> float array
  (** [mom x n], n >= 1. Lookback [n]. x[t] - x[t-n]. *)

  val highest : float array -> int -> float array
  (** [highest high n], n >= 2 (TA-Lib MAX of the highs). Lookback [n - 1].
      TA-Lib's loop: the index of the maximum is kept; when it leaves the
      window, the window is rescanned and its first strict maximum taken;
      otherwise a new value [>=] the maximum takes over. The value is the
      window's maximum; the index decides only the sign of a zero maximum. *)

  val lowest : float array -> int -> float array
  (** [lowest low n], n >= 2 (TA-Lib MIN of the lows). Lookback [n - 1]. As
      {!highest} with the order reversed: a rescan takes the first strict
      minimum, a new value [<=] the minimum takes over. *)

  val stddev : float array -> int -> float -> float array
  (** [stddev x n nbdev], n >= 2, nbdev finite in [-3e37, 3e37] (TA-Lib STDDEV).
      Lookback [n - 1]. TA-Lib's VAR: sums S1 of x and S2 of x * x take
      x[0..n-2]; per bar both add x[t], var = S2/n - (S1/n) * (S1/n), then both
      drop x[t-n+1]. out = sqrt var * nbdev, or 0.0 when var < 1e-14. *)
end

include S

module Trusted : S
(** The same functions without the scan of the inputs for non-finite values
    (periods, parameters and lengths are still checked): only for a caller
    that has checked finiteness itself, as the server does while decoding a
    request. A non-finite input then gives unspecified values. *)

(**/**)

val is_zero : float -> bool
(** TA-Lib's zero test: -1e-14 < v < 1e-14. *)

val max_period : int
