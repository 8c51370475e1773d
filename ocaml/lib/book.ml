(* The execution model of one symbol (see book.mli and docs/design.md §4). *)

type side = Long | Short
type fill_mode = At_close | Next_open
type costs = { fee_bps : float; slippage_bps : float }
type execution = { fill : fill_mode; cash : float; leverage : float option }
type bar = { timestamp : int; open_ : float; high : float; low : float; close : float }

type entry = {
  quantity : float option;
  size : float option;
  risk : float option;
  price : float option;
  stop_price : float option;
  stop_loss : float option;
  take_profit : float option;
  expire_bars : float option;
}

let no_entry = { quantity = None; size = None; risk = None; price = None; stop_price = None;
                 stop_loss = None; take_profit = None; expire_bars = None }

type action =
  | Detect_opportunity
  | Cancel_analysis
  | Enter of side * entry
  | Exit of { price : float option; expire_bars : float option }
  | Update_stop_loss of float option
  | Update_take_profit of float option

let action_name = function
  | Detect_opportunity -> "detect_opportunity"
  | Cancel_analysis -> "cancel_analysis"
  | Enter (Long, _) -> "enter_long"
  | Enter (Short, _) -> "enter_short"
  | Exit _ -> "exit"
  | Update_stop_loss _ -> "update_stop_loss"
  | Update_take_profit _ -> "update_take_profit"

type problem =
  | State | Required | Not_finite | Not_whole | Combined | Not_positive | Fraction
  | Needs_stop | Expiry_market | Expiry_negative | Disguised_market | Level | No_room
  | Overflow | Cash

let problems = [| State; Required; Not_finite; Not_whole; Combined; Not_positive; Fraction;
                  Needs_stop; Expiry_market; Expiry_negative; Disguised_market; Level;
                  No_room; Overflow; Cash |]

let problem_code p =
  let rec go i = if problems.(i) = p then i + 1 else go (i + 1) in
  go 0

let problem_name = function
  | State -> "state" | Required -> "required" | Not_finite -> "not_finite"
  | Not_whole -> "not_whole" | Combined -> "combined" | Not_positive -> "not_positive"
  | Fraction -> "fraction" | Needs_stop -> "needs_stop" | Expiry_market -> "expiry_market"
  | Expiry_negative -> "expiry_negative" | Disguised_market -> "disguised_market"
  | Level -> "level" | No_room -> "no_room" | Overflow -> "overflow" | Cash -> "cash"

type refusal = { action : string; field : string; problem : problem; message : string }
type state = Idle | Analyzing | In_position
type exit_reason = Strategy | Stop_loss | Take_profit

type fill = {
  entry : bool;
  side : side;
  price : float;
  quantity : float;
  fee : float;
  pnl : float;
  reason : exit_reason option;
  entry_price : float;
  entry_fee : float;
}

type position = {
  side : side;
  quantity : float;
  entry_price : float;
  entry_time : int;
  entry_fee : float;
  stop_loss : float option;
  take_profit : float option;
  bars_held : int;
}

type order_kind = Market | Limit | Stop

type order = {
  kind : order_kind;
  side : side;
  level : float;
  bars_left : int option;
  placed : int;
  is_entry : bool;
}

(* A waiting order and what it came from: the entry's fields (sizing, levels). *)
type waiting = { order : order; source : entry }

type t = {
  costs : costs;
  execution : execution;
  mutable state : state;
  mutable position : position option;
  mutable waiting : waiting option;
  mutable realized : float;
  mutable fees : float;
  mutable equity : float;
  mutable last_time : int option;
  mutable expired : bool;
  mutable refused_fill : refusal option;
  mutable fills : fill list;  (* this bar's, newest first *)
}

type bar_problem = Out_of_order | Not_finite_price | Inconsistent

exception Bad_bar of bar_problem * string
exception Refuse of refusal

let fee c p q = c.fee_bps *. p *. q /. 1e4
let adverse c p d = p *. (1. +. d *. c.slippage_bps /. 1e4)
let dir = function Long -> 1. | Short -> -1.
let finite_positive v = 0. < v && v < Float.infinity

let create costs execution =
  let bps name v =
    if not (0. <= v && v < 10_000.) then
      invalid_arg (Printf.sprintf "book: %s = %.17g must be in [0, 10000) bps" name v) in
  bps "fee_bps" costs.fee_bps;
  bps "slippage_bps" costs.slippage_bps;
  if not (finite_positive execution.cash) then
    invalid_arg (Printf.sprintf "book: cash = %.17g must be a finite number > 0" execution.cash);
  (match execution.leverage with
   | Some l when not (1. <= l && l <= 100.) ->
     invalid_arg (Printf.sprintf "book: leverage = %.17g must be in [1, 100]" l)
   | _ -> ());
  { costs; execution; state = Idle; position = None; waiting = None; realized = 0.;
    fees = 0.; equity = execution.cash; last_time = None; expired = false;
    refused_fill = None; fills = [] }

let state t = t.state
let position t = t.position
let pending t = Option.map (fun w -> w.order) t.waiting
let realized_pnl t = t.realized
let fees_paid t = t.fees
let equity t = t.equity
let order_expired t = t.expired
let order_refused t = t.refused_fill

let check_bar t b =
  let bad kind fmt = Printf.ksprintf (fun m -> raise (Bad_bar (kind, m))) fmt in
  (match t.last_time with
   | Some last when b.timestamp <= last ->
     bad Out_of_order "bar at %d is not after the previous bar at %d" b.timestamp last
   | _ -> ());
  let prices = [ "open", b.open_; "high", b.high; "low", b.low; "close", b.close ] in
  List.iter (fun (name, v) ->
      if not (Float.is_finite v) then
        bad Not_finite_price "bar at %d: %s = %.17g is not finite" b.timestamp name v)
    prices;
  List.iter (fun (name, v) ->
      if v <= 0. then bad Inconsistent "bar at %d: %s = %.17g must be > 0" b.timestamp name v)
    prices;
  if not (b.low <= b.open_ && b.open_ <= b.high && b.low <= b.close && b.close <= b.high) then
    bad Inconsistent "bar at %d: low <= open, close <= high does not hold" b.timestamp

(* --- refusals --- *)

let refuse action field problem fmt =
  Printf.ksprintf (fun message -> raise (Refuse { action; field; problem; message })) fmt

(* --- fills and closes --- *)

let record t f = t.fills <- f :: t.fills

let open_position t side (src : entry) quantity price (b : bar) =
  let entry_fee = fee t.costs price quantity in
  t.position <- Some { side; quantity; entry_price = price; entry_time = b.timestamp;
                       entry_fee; stop_loss = src.stop_loss; take_profit = src.take_profit;
                       bars_held = 0 };
  t.fees <- t.fees +. entry_fee;
  t.state <- In_position;
  record t { entry = true; side; price; quantity; fee = entry_fee; pnl = 0.; reason = None;
             entry_price = price; entry_fee }

let close_position t (p : position) price reason =
  let exit_fee = fee t.costs price p.quantity in
  let pnl = dir p.side *. (price -. p.entry_price) *. p.quantity -. p.entry_fee -. exit_fee in
  t.fees <- t.fees +. exit_fee;
  t.realized <- t.realized +. pnl;
  t.position <- None;
  t.waiting <- None;
  t.state <- Idle;
  record t { entry = false; side = p.side; price; quantity = p.quantity; fee = exit_fee; pnl;
             reason = Some reason; entry_price = p.entry_price; entry_fee = p.entry_fee }

(* One more bar without a fill: count down; at 0 the order is removed. *)
let age t w =
  match w.order.bars_left with
  | None -> ()
  | Some n when n <= 1 -> t.waiting <- None; t.expired <- true
  | Some n -> t.waiting <- Some { w with order = { w.order with bars_left = Some (n - 1) } }

(* --- sizing --- *)

let entry_name = function Long -> "enter_long" | Short -> "enter_short"

(* The quantity of [src] filled at [price], or a refusal (No_room, Overflow, Cash). *)
let quantity t side (src : entry) price =
  let name = entry_name side and c = t.costs in
  let e = t.execution.cash +. t.realized in
  let d = dir side in
  let q, field = match src.quantity, src.size, src.risk, src.stop_loss with
    | Some q, _, _, _ -> q, "quantity"
    | None, Some s, _, _ -> s *. e /. (price +. fee c price 1.), "size"
    | None, None, Some r, Some stop ->
      if d *. (price -. stop) <= 0. then
        refuse name "stop_loss" No_room
          "field 'stop_loss' = %.17g leaves no room to size by risk: the fill %.17g is at or beyond it"
          stop price;
      let stop_fill = adverse c stop (-. d) in
      r *. e /. (d *. (price -. stop_fill) +. fee c price 1. +. fee c stop_fill 1.), "risk"
    | _ -> assert false (* checked at placement *)
  in
  let cost = q *. price in
  if not (Float.is_finite (cost *. 2.)) then
    refuse name field Overflow "field %S makes the notional at price %.17g overflow" field price;
  (match t.execution.leverage with
   | Some l when src.size = None ->
     let f = fee c price q and limit = e *. l in
     if cost +. f > limit then
       refuse name field Cash "field %S: cost %.2f + fee %.2f = %.2f exceeds equity %.2f x \
                               leverage %g = %.2f" field cost f (cost +. f) e l limit
   | _ -> ());
  q

(* --- begin_bar --- *)

let take_profit t (p : position) price =
  let reason = match p.take_profit with
    | Some tp when (match p.side with Long -> price >= tp | Short -> price <= tp) -> Take_profit
    | _ -> Strategy in
  close_position t p price reason

let auto_exit t (b : bar) ~fill_bar =
  match t.position with
  | None -> ()
  | Some p when (not fill_bar) && b.timestamp <= p.entry_time -> ()
  | Some p0 ->
    let p = if fill_bar then p0 else { p0 with bars_held = p0.bars_held + 1 } in
    t.position <- Some p;
    let d = dir p.side and c = t.costs in
    let live = match t.waiting with
      | Some w when (not w.order.is_entry) && b.timestamp > w.order.placed -> Some w
      | _ -> None in
    match live with
    | Some { order = { kind = Market; _ }; _ } ->
      close_position t p (adverse c b.open_ (-. d)) Strategy
    | _ ->
      let target = match live, p.take_profit with
        | None, tp -> tp
        | Some w, None -> Some w.order.level
        | Some w, Some tp ->
          let l = w.order.level in
          Some (match p.side with Long -> if l < tp then l else tp
                                | Short -> if l > tp then l else tp) in
      let beyond a b = match p.side with Long -> a <= b | Short -> a >= b in
      let reached_low = match p.side with Long -> b.low | Short -> b.high in
      let reached_high = match p.side with Long -> b.high | Short -> b.low in
      (match p.stop_loss, target with
       | Some s, _ when beyond b.open_ s -> close_position t p (adverse c b.open_ (-. d)) Stop_loss
       | _, Some tg when beyond tg b.open_ -> take_profit t p b.open_
       | Some s, _ when beyond reached_low s -> close_position t p (adverse c s (-. d)) Stop_loss
       | _, Some tg when beyond tg reached_high -> take_profit t p tg
       | _ -> Option.iter (age t) live)

(* Where [bar] fills a waiting entry: (price, at the open), or None. *)
let entry_fill c (o : order) (b : bar) =
  let d = dir o.side in
  let at_or_below a l = match o.side with Long -> a <= l | Short -> a >= l in
  match o.kind with
  | Market -> Some (adverse c b.open_ d, true)
  | Limit ->
    let reach = match o.side with Long -> b.low | Short -> b.high in
    if at_or_below b.open_ o.level then Some (b.open_, true)
    else if at_or_below reach o.level then Some (o.level, false)
    else None
  | Stop ->
    let reach = match o.side with Long -> b.high | Short -> b.low in
    if at_or_below o.level b.open_ then Some (adverse c b.open_ d, true)
    else if at_or_below o.level reach then Some (adverse c o.level d, false)
    else None

let begin_bar t (b : bar) =
  t.expired <- false;
  t.refused_fill <- None;
  match t.waiting with
  | Some ({ order; source } as w) when order.is_entry ->
    if b.timestamp > order.placed then begin
      match entry_fill t.costs order b with
      | None -> age t w
      | Some (price, at_open) ->
        match quantity t order.side source price with
        | exception Refuse r -> t.waiting <- None; t.refused_fill <- Some r
        | q ->
          t.waiting <- None;
          open_position t order.side source q price b;
          if at_open then auto_exit t b ~fill_bar:true
    end
  | _ -> auto_exit t b ~fill_bar:false

(* --- actions --- *)

let state_name = function Idle -> "idle" | Analyzing -> "analyzing" | In_position -> "in_position"

let check_table name fields =
  List.iter (fun (field, v) -> match v with
      | Some x when not (Float.is_finite x) ->
        refuse name field Not_finite "field %S = %.17g must be a finite number" field x
      | _ -> ()) fields

let check_whole name = function
  | Some x when Float.round x <> x ->
    refuse name "expire_bars" Not_whole "field 'expire_bars' = %.17g must be a whole number" x
  | _ -> ()

(* [bars_left] of an order from [expire_bars]: default 1, 0 = good till cancelled. *)
let expiry name priced = function
  | None -> Some 1
  | Some x when not priced ->
    refuse name "expire_bars" Expiry_market
      "field 'expire_bars' = %.17g applies only to orders with a price (a market order does \
       not wait)" x
  | Some x when x < 0. ->
    refuse name "expire_bars" Expiry_negative "field 'expire_bars' = %.17g must be >= 0" x
  | Some x when x = 0. -> None
  | Some x -> Some (if x >= 4e18 then max_int else Float.to_int x)

(* A limit or stop level > 0 that does not fill at once: [above] = must be at or above. *)
let order_price name field v ~close ~above =
  if not (finite_positive v) then
    refuse name field Not_positive "field %S = %.17g must be a finite number > 0" field v;
  if (if above then v < close else v > close) then
    refuse name field Disguised_market
      "field %S = %.17g is %s the close %.17g: a market order in disguise" field v
      (if above then "below" else "above") close

(* A stop on the protective side of [ref], a target on the profitable side. *)
let levels name side ~stop ~target ref =
  let inside lo hi v = lo < v && v < hi in
  (match stop with
   | Some s when not (match side with Long -> inside 0. ref s | Short -> inside ref Float.infinity s) ->
     refuse name "stop_loss" Level "field 'stop_loss' = %.17g is on the wrong side of %.17g" s ref
   | _ -> ());
  match target with
  | Some tg when not (match side with Long -> inside ref Float.infinity tg | Short -> inside 0. ref tg) ->
    refuse name "take_profit" Level "field 'take_profit' = %.17g is on the wrong side of %.17g" tg ref
  | _ -> ()

let sizing name (e : entry) =
  let given = List.filter (fun (_, v) -> v <> None)
      [ "quantity", e.quantity; "size", e.size; "risk", e.risk ] in
  match given with
  | [] -> refuse name "quantity" Required
            "field 'quantity' is required: give exactly one of quantity, size, risk"
  | _ :: (second, _) :: _ ->
    refuse name second Combined "field %S cannot be combined with another sizing field" second
  | [ "quantity", Some q ] ->
    if not (finite_positive q) then
      refuse name "quantity" Not_positive "field 'quantity' = %.17g must be a finite number > 0" q
  | [ field, Some v ] ->
    if not (0. < v && v <= 1.) then
      refuse name field Fraction "field %S = %.17g must be a fraction of equity in (0, 1]" field v;
    if field = "risk" && e.stop_loss = None then
      refuse name "risk" Needs_stop "field 'risk' needs a stop_loss"
  | _ -> assert false

let enter t (b : bar) side (e : entry) =
  let name = entry_name side and c = t.costs and d = dir side in
  sizing name e;
  let bars_left = expiry name (e.price <> None || e.stop_price <> None) e.expire_bars in
  let kind, level = match e.price, e.stop_price with
    | Some _, Some sp ->
      refuse name "stop_price" Combined
        "field 'stop_price' = %.17g cannot be combined with 'price' (no stop-limit orders)" sp
    | Some l, None -> order_price name "price" l ~close:b.close ~above:(side = Short); Limit, l
    | None, Some p -> order_price name "stop_price" p ~close:b.close ~above:(side = Long); Stop, p
    | None, None -> Market, b.close in
  let ref = match kind with
    | Market -> adverse c b.close d | Stop -> adverse c level d | Limit -> level in
  levels name side ~stop:e.stop_loss ~target:e.take_profit ref;
  let q = quantity t side e ref in
  if kind = Market && t.execution.fill = At_close then begin
    t.waiting <- None;
    open_position t side e q ref b
  end else
    t.waiting <- Some { order = { kind; side; level; bars_left; placed = b.timestamp;
                                  is_entry = true }; source = e }

let exit_now t (b : bar) (p : position) price expire =
  let name = "exit" in
  let bars_left = expiry name (price <> None) expire in
  match price with
  | Some l ->
    order_price name "price" l ~close:b.close ~above:(p.side = Long);
    t.waiting <- Some { order = { kind = Limit; side = p.side; level = l; bars_left;
                                  placed = b.timestamp; is_entry = false };
                        source = no_entry }
  | None when t.execution.fill = Next_open ->
    t.waiting <- Some { order = { kind = Market; side = p.side; level = b.close;
                                  bars_left = Some 1; placed = b.timestamp; is_entry = false };
                        source = no_entry }
  | None -> close_position t p (adverse t.costs b.close (-. dir p.side)) Strategy

let allowed = function
  | Detect_opportunity -> Idle
  | Cancel_analysis | Enter _ -> Analyzing
  | Exit _ | Update_stop_loss _ | Update_take_profit _ -> In_position

let apply_checked t (b : bar) action =
  let name = action_name action in
  (match action with
   | Enter (_, e) ->
     check_table name [ "quantity", e.quantity; "price", e.price; "stop_loss", e.stop_loss;
                        "take_profit", e.take_profit; "size", e.size; "risk", e.risk;
                        "stop_price", e.stop_price; "expire_bars", e.expire_bars ];
     check_whole name e.expire_bars
   | Exit { price; expire_bars } ->
     check_table name [ "price", price; "expire_bars", expire_bars ];
     check_whole name expire_bars
   | Update_stop_loss None -> refuse name "stop_loss" Required "field 'stop_loss' is required"
   | Update_take_profit None ->
     refuse name "take_profit" Required "field 'take_profit' is required"
   | Update_stop_loss v -> check_table name [ "stop_loss", v ]
   | Update_take_profit v -> check_table name [ "take_profit", v ]
   | Detect_opportunity | Cancel_analysis -> ());
  let need = allowed action in
  if t.state <> need then
    refuse name "action" State "action %S is only allowed in state %s (state %s)" name
      (state_name need) (state_name t.state);
  match action, t.position with
  | Detect_opportunity, _ -> t.state <- Analyzing
  | Cancel_analysis, _ -> t.waiting <- None; t.state <- Idle
  | Enter (side, e), _ -> enter t b side e
  | Exit { price; expire_bars }, Some p -> exit_now t b p price expire_bars
  | Update_stop_loss (Some s), Some p ->
    levels name p.side ~stop:(Some s) ~target:None b.close;
    t.position <- Some { p with stop_loss = Some s }
  | Update_take_profit (Some tg), Some p ->
    levels name p.side ~stop:None ~target:(Some tg) b.close;
    t.position <- Some { p with take_profit = Some tg }
  | _ -> assert false (* in position always has a position; updates checked above *)

let apply t b action =
  match apply_checked t b action with
  | () -> Ok ()
  | exception Refuse r -> Error r

let mark t (b : bar) =
  let unrealized = match t.position with
    | None -> 0.
    | Some p -> dir p.side *. (b.close -. p.entry_price) *. p.quantity -. p.entry_fee in
  t.equity <- t.execution.cash +. t.realized +. unrealized;
  t.equity

type step = {
  fills : fill list;
  refusal : refusal option;
  expired : bool;
  refused_fill : refusal option;
}

let step t b action =
  check_bar t b;
  t.last_time <- Some b.timestamp;
  t.fills <- [];
  begin_bar t b;
  let refusal = match action with
    | None -> None
    | Some a -> (match apply t b a with Ok () -> None | Error r -> Some r) in
  ignore (mark t b);
  let fills = List.rev t.fills in
  t.fills <- [];
  { fills; refusal; expired = t.expired; refused_fill = t.refused_fill }
