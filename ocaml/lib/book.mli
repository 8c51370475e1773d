(** The execution model of one symbol: position, orders, fills, costs, sizing
    and equity — the OCaml twin of layer 3 (engine/state), written from the
    contract of docs/design.md §4 (sections "Notation" to "Costs").

    Every rule is stated for a long; a short mirrors it (low ↔ high, ≤ ↔ ≥,
    below ↔ above). [d] is +1 for a long, −1 for a short.

    {b Arithmetic.} Every formula is evaluated left to right exactly as
    written here, in IEEE-754 binary64 with round-to-nearest, so that the
    Python model and this one agree bit for bit:
    - [fee p q = fee_bps *. p *. q /. 1e4] (one fill of [q] units at [p]);
    - [adverse p d = p *. (1. +. d *. slippage_bps /. 1e4)] (a price moved
      against a trade that buys, [d = 1.], or sells, [d = -1.]).

    {b One bar} ({!step}): the bar is checked ({!Bad_bar}), then
    {!begin_bar}, then the strategy's action ({!apply}), then {!mark}. *)

type side = Long | Short

type fill_mode =
  | At_close  (** market orders fill at once at the decision bar's close *)
  | Next_open  (** market orders wait one bar and fill at its open *)

type costs = { fee_bps : float; slippage_bps : float }
(** Both in basis points, each in \[0, 10000). *)

type execution = { fill : fill_mode; cash : float; leverage : float option }
(** [cash]: the starting equity, finite and > 0. [leverage]: [None] = no cash
    check; [Some l] with 1 ≤ l ≤ 100: an entry's cost plus fee may be at most
    [E *. l]. *)

type bar = {
  timestamp : int;  (** ms; strictly increasing from bar to bar *)
  open_ : float;
  high : float;
  low : float;
  close : float;
}

(** The fields of an entry action; [None] = not given. *)
type entry = {
  quantity : float option;
  size : float option;
  risk : float option;
  price : float option;  (** a limit order at this level *)
  stop_price : float option;  (** a stop order at this level *)
  stop_loss : float option;
  take_profit : float option;
  expire_bars : float option;  (** a whole number ≥ 0 (carried as a float) *)
}

val no_entry : entry
(** Every field [None]. *)

(** What a strategy function returned, as the machine sees it. *)
type action =
  | Detect_opportunity  (** idle → analyzing *)
  | Cancel_analysis  (** analyzing → idle; cancels a waiting entry order *)
  | Enter of side * entry  (** analyzing → in position (now or at a fill) *)
  | Exit of { price : float option; expire_bars : float option }
      (** in position → idle; with [price], a limit exit order *)
  | Update_stop_loss of float option  (** in position; the field is required *)
  | Update_take_profit of float option  (** in position; the field is required *)

val action_name : action -> string
(** ["enter_long"], ["exit"], ... as Python names them. *)

(** Why an action (or an entry at its fill) is refused; the same kinds as the
    Python model's refusals (bridge/book.py classifies those). The order in
    which they are tested is given at {!apply}. *)
type problem =
  | State  (** the action is not allowed in the current state *)
  | Required  (** a required field is missing *)
  | Not_finite  (** a field is NaN or infinite (the action-table check) *)
  | Not_whole  (** [expire_bars] is not a whole number (the action-table check) *)
  | Combined  (** two sizing fields, or [price] with [stop_price] *)
  | Not_positive  (** [quantity], [price] or [stop_price] not finite and > 0 *)
  | Fraction  (** [size] or [risk] outside (0, 1] *)
  | Needs_stop  (** [risk] without [stop_loss] *)
  | Expiry_market  (** [expire_bars] on a market order *)
  | Expiry_negative  (** [expire_bars] < 0 *)
  | Disguised_market  (** a buy limit above / buy stop below the close, ... *)
  | Level  (** a stop-loss or take-profit on the wrong side of its reference *)
  | No_room  (** risk sizing with the fill at or beyond the stop *)
  | Overflow  (** the notional [q *. fill *. 2.] is not finite *)
  | Cash  (** [cost + fee > E *. leverage] *)

val problem_name : problem -> string
(** ["state"], ["disguised_market"], ...: the names docs/protocol.md lists. *)

val problem_code : problem -> int
(** The wire code: 1 ([State]) to 15 ([Cash]), in declaration order. *)

type refusal = { action : string; field : string; problem : problem; message : string }
(** A refused action, naming it, the field and the problem; the book is unchanged. *)

type state = Idle | Analyzing | In_position
type exit_reason = Strategy | Stop_loss | Take_profit

type fill = {
  entry : bool;  (** an entry fill, else an exit fill *)
  side : side;  (** of the position opened or closed *)
  price : float;
  quantity : float;
  fee : float;  (** this fill's fee *)
  pnl : float;
      (** an exit: [d *. (price -. entry_price) *. quantity -. entry_fee -. fee]; an entry: 0 *)
  reason : exit_reason option;  (** an exit's reason; [None] for an entry *)
  entry_price : float;  (** an exit: the position's entry price; an entry: [price] *)
  entry_fee : float;  (** an exit: the position's entry fee; an entry: [fee] *)
}

type position = {
  side : side;
  quantity : float;
  entry_price : float;  (** the entry fill price, slippage included *)
  entry_time : int;  (** the timestamp of the fill bar *)
  entry_fee : float;
  stop_loss : float option;
  take_profit : float option;
  bars_held : int;  (** bars begun after the fill bar (0 in the fill bar) *)
}

type order_kind = Market | Limit | Stop

type order = {
  kind : order_kind;
  side : side;  (** of the position it opens (an entry) or closes (an exit) *)
  level : float;  (** the limit or stop level; the decision close for a market order *)
  bars_left : int option;  (** [None] = good till cancelled *)
  placed : int;  (** the timestamp of the bar that placed it *)
  is_entry : bool;
}

type t
(** One symbol's book: state, position, waiting order, realized P&L, fees. *)

val create : costs -> execution -> t
(** A flat, idle book. Raises [Invalid_argument] naming the setting when a
    cost is outside \[0, 10000), [cash] is not finite and > 0, or [leverage]
    is outside \[1, 100\]. *)

type bar_problem =
  | Out_of_order  (** not later than the previous bar *)
  | Not_finite_price  (** a price is NaN or infinite *)
  | Inconsistent  (** a price ≤ 0, or [low ≤ open, close ≤ high] violated *)

exception Bad_bar of bar_problem * string
(** A bar the book cannot take, and why (the message names the bar and field).
    The book is unchanged. *)

val check_bar : t -> bar -> unit
(** Raises {!Bad_bar} unless [bar] is valid and later than the last bar. *)

val begin_bar : t -> bar -> unit
(** Everything that happens to [bar] before the strategy runs:
    + the previous bar's [order_expired] / [order_refused] are cleared;
    + a waiting entry order placed before [bar] is tested:
      {b market}: fills at [adverse open d] ("at the open");
      {b limit} [L]: [open ≤ L] → at [open] (at the open); else [low ≤ L] → at
      [L]; no slippage; {b stop} [P]: [open ≥ P] → [adverse open d] (at the
      open); else [high ≥ P] → [adverse P d]. A fill is sized at its price
      (sizing rules at {!apply}; [No_room], [Overflow] and [Cash] are tested
      again): a refusal removes the order, sets [order_refused] and keeps the
      state analyzing. Without a fill the order ages ({!order}: [bars_left]
      drops by 1; at 0 it is removed and [order_expired] is set). A fill
      moves to in position with [entry_time] = this bar and, only when it
      filled at the open, the auto-exit below runs in this same bar (without
      advancing [bars_held]);
    + otherwise, with a position whose fill bar is before [bar]:
      [bars_held += 1], then auto-exit:
      a waiting exit order placed before [bar] is live: a {b market} exit
      fills at [adverse open (-d)] before any level is tested; a {b limit}
      [L] makes the target [T' = min T L] ([L] without a take-profit [T]);
      then, for a long: [open ≤ stop] → stop fills at [adverse open (-d)];
      [open ≥ T'] → target fills at [open]; [low ≤ stop] → stop fills at
      [adverse stop (-d)]; [high ≥ T'] → target fills at [T'] (the stop is
      tested first: a bar touching both stops out). A target fill counts as
      [Take_profit] when [T] is set and the fill price ≥ [T], else as a
      [Strategy] exit (the limit exit order). Without a close, a live exit
      order ages like an entry order. Any close removes the waiting order.
    Each fill pays {!fee}; a close adds its P&L to the realized P&L. *)

val apply : t -> bar -> action -> (unit, refusal) result
(** The strategy's action on [bar] (after {!begin_bar}). A refusal changes
    nothing. Checks, in this order (the first failing one is reported):
    + the action table: a given field not finite → [Not_finite];
      [expire_bars] not whole → [Not_whole]; the field of an update missing →
      [Required];
    + the state: detect_opportunity only when idle; cancel_analysis, the
      entries only when analyzing; exit and the updates only in position →
      [State];
    + an entry: sizing — none of quantity/size/risk → [Required] (field
      quantity); two or more → [Combined] naming the second given in the order
      quantity, size, risk; quantity not finite > 0 → [Not_positive]; size or
      risk outside (0, 1] → [Fraction]; risk without stop_loss → [Needs_stop];
      then [expire_bars] without price/stop_price → [Expiry_market], < 0 →
      [Expiry_negative]; price with stop_price → [Combined] (field
      stop_price); price (then stop_price) not finite > 0 → [Not_positive]; a
      buy limit above the close or a buy stop below it → [Disguised_market];
      then the stop-loss (then the take-profit) against the reference price
      [ref] — [adverse close d] (market), [L] (limit), [adverse P d] (stop):
      a long's stop must be in (0, ref), its target in (ref, ∞) → [Level];
      then the quantity at [ref] with [E = cash + realized]: [quantity] as
      given; [size *. E /. (ref +. fee ref 1.)]; for risk, [d *. (ref -.
      stop) ≤ 0] → [No_room], else with [stop_fill = adverse stop (-d)],
      [risk *. E /. (d *. (ref -. stop_fill) +. fee ref 1. +. fee stop_fill 1.)];
      [not (is_finite (q *. ref *. 2.))] → [Overflow]; with a leverage and not
      a size entry, [q *. ref +. fee ref q > E *. leverage] → [Cash].
      A market entry with [At_close] then fills at [ref] on this bar
      (removing a waiting entry order); any other entry becomes the waiting
      order (replacing one), [bars_left] = [expire_bars] (default 1; 0 = good
      till cancelled; a market order: 1);
    + an exit: [expire_bars] as for an entry ([Expiry_market] without price);
      price not finite > 0 → [Not_positive]; a long's price below the close
      → [Disguised_market]. A limit exit becomes the waiting exit order (live
      from the next bar); a market exit fills at [adverse close (-d)] now
      ([At_close]) or becomes a market exit order ([Next_open]);
    + an update: the new stop (target) against the close, as [Level] above.
    cancel_analysis removes a waiting entry order. *)

val mark : t -> bar -> float
(** The equity after [bar]: [cash +. realized +. unrealized] where
    [unrealized = d *. (close -. entry_price) *. quantity -. entry_fee]
    (0 when flat). Recorded as {!equity}. *)

(** What one bar did. *)
type step = {
  fills : fill list;  (** in the order they happened *)
  refusal : refusal option;  (** the action's refusal *)
  expired : bool;  (** [order_expired] after the bar *)
  refused_fill : refusal option;  (** [order_refused] after the bar *)
}

val step : t -> bar -> action option -> step
(** {!check_bar}, {!begin_bar}, {!apply} (when an action is given), {!mark}.
    Raises {!Bad_bar} (the book unchanged) for a bad bar. *)

val fee : costs -> float -> float -> float
(** [fee c p q = c.fee_bps *. p *. q /. 1e4]. *)

val adverse : costs -> float -> float -> float
(** [adverse c p d = p *. (1. +. d *. c.slippage_bps /. 1e4)]. *)

val state : t -> state
val position : t -> position option
val pending : t -> order option
val realized_pnl : t -> float
val fees_paid : t -> float
(** Every fee paid, the open position's entry fee included. *)

val equity : t -> float
(** The last marked equity ([cash] before the first bar). *)

val order_expired : t -> bool
val order_refused : t -> refusal option
