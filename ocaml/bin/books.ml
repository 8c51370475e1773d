(* Book messages: see books.mli and docs/protocol.md, "Books". *)
open Tandem
module C = Wire.Cursor
module O = Wire.Out

type t = { books : (int, Book.t) Hashtbl.t; mutable next_id : int }

let create () = { books = Hashtbl.create 16; next_id = 1 }
let bad code fmt = Printf.ksprintf (fun msg -> raise (Wire.Bad_request (code, msg))) fmt

(* Body: u8 fill (0 close, 1 next-open), u8 flags (bit 0: leverage given), u16 0,
   u32 0, f64 fee_bps, slippage_bps, cash, leverage. *)
let open_book t c out =
  let fill = C.u8 c "fill mode" in
  let flags = C.u8 c "flags" in
  C.skip c 6 "reserved";
  let fee_bps = C.f64 c "fee_bps" in
  let slippage_bps = C.f64 c "slippage_bps" in
  let cash = C.f64 c "cash" in
  let leverage = C.f64 c "leverage" in
  C.finish c "book settings";
  let fill = match fill with
    | 0 -> Book.At_close | 1 -> Book.Next_open
    | n -> bad Wire.Code.invalid_argument "book: fill mode %d must be 0 (close) or 1 (next-open)" n in
  let execution = { Book.fill; cash; leverage = (if flags land 1 = 1 then Some leverage else None) } in
  let book = try Book.create { Book.fee_bps; slippage_bps } execution with
    | Invalid_argument msg -> bad Wire.Code.invalid_argument "%s" msg in
  let id = t.next_id in
  t.next_id <- (if id >= 0xFFFF_FFFF then 1 else id + 1);
  Hashtbl.replace t.books id book;
  let b = O.start out 8 in
  O.u32 b id; O.u32 b 0;
  b

let field_names = [| "quantity"; "size"; "risk"; "price"; "stop_price"; "stop_loss";
                     "take_profit"; "expire_bars" |]

(* The fields each action code takes (as a mask over [field_names]). *)
let takes = function
  | 0 | 1 | 2 -> 0
  | 3 | 4 -> 0xFF
  | 5 -> 0x88  (* price, expire_bars *)
  | 6 -> 0x20  (* stop_loss *)
  | 7 -> 0x40  (* take_profit *)
  | n -> bad Wire.Code.invalid_argument "book bar: action code %d is not an action (0-7)" n

let action code mask (v : float array) =
  let get i = if mask land (1 lsl i) <> 0 then Some v.(i) else None in
  match code with
  | 0 -> None
  | 1 -> Some Book.Detect_opportunity
  | 2 -> Some Book.Cancel_analysis
  | 3 | 4 ->
    let e = { Book.quantity = get 0; size = get 1; risk = get 2; price = get 3;
              stop_price = get 4; stop_loss = get 5; take_profit = get 6;
              expire_bars = get 7 } in
    Some (Book.Enter ((if code = 3 then Book.Long else Book.Short), e))
  | 5 -> Some (Book.Exit { price = get 3; expire_bars = get 7 })
  | 6 -> Some (Book.Update_stop_loss (get 5))
  | _ -> Some (Book.Update_take_profit (get 6))

let side_code = function Book.Long -> 0 | Book.Short -> 1
let opt = function Some v -> v | None -> Float.nan

let reason_code = function
  | None -> 0 | Some Book.Strategy -> 1 | Some Book.Stop_loss -> 2 | Some Book.Take_profit -> 3

let refusal_text b (r : Book.refusal option) =
  match r with
  | None -> ()
  | Some r ->
    O.u8 b (String.length r.field); O.u8 b 0; O.u16 b 0;
    O.u32 b (String.length r.message);
    O.padded b (r.field ^ r.message)

(* One bar record, read but not yet applied: the BOOK_BAR body layout. *)
type record = { book_id : int; code : int; mask : int; lo : int; hi : int;
                prices : float array; fields : float array }

(* Body: u32 book id, u8 action, u8 0, u16 field mask, u32 timestamp low, u32
   timestamp high, f64 open, high, low, close, 8 x f64 fields. *)
let read_record c =
  let book_id = C.u32 c "book id" in
  let code = C.u8 c "action" in
  C.skip c 1 "reserved";
  let mask = C.u16 c "field mask" in
  let lo = C.u32 c "timestamp" in
  let hi = C.u32 c "timestamp" in
  let prices = Array.init 4 (fun _ -> C.f64 c "bar price") in
  let fields = Array.init 8 (fun _ -> C.f64 c "action field") in
  { book_id; code; mask; lo; hi; prices; fields }

(* Runs one record through its book (Book.step); [Bad_request] leaves it unchanged. *)
let step t { book_id = id; code; mask; lo; hi; prices; fields } =
  let book = match Hashtbl.find_opt t.books id with
    | Some b -> b
    | None -> bad Wire.Code.unknown_book "unknown book id %d (never opened, or already closed)" id in
  if hi >= 1 lsl 30 then
    bad Wire.Code.invalid_argument "book bar: timestamp %d * 2^32 + %d is beyond 2^62 ms" hi lo;
  let extra = mask land lnot (takes code) in
  if extra <> 0 then begin
    let i = ref 0 in
    while extra land (1 lsl !i) = 0 do incr i done;
    bad Wire.Code.invalid_argument "book bar: action code %d does not take the field %s" code
      field_names.(!i)
  end;
  let b = { Book.timestamp = (hi lsl 32) lor lo; open_ = prices.(0); high = prices.(1);
            low = prices.(2); close = prices.(3) } in
  let s = try Book.step book b (action code mask fields) with
    | Book.Bad_bar (Book.Out_of_order, msg) -> bad Wire.Code.out_of_order "book %d: %s" id msg
    | Book.Bad_bar (Book.Not_finite_price, msg) -> bad Wire.Code.non_finite "book %d: %s" id msg
    | Book.Bad_bar (Book.Inconsistent, msg) -> bad Wire.Code.invalid_argument "book %d: %s" id msg
    | Out_of_memory | Stack_overflow as e -> raise e
    | e -> bad Wire.Code.internal "book %d: internal error: %s" id (Printexc.to_string e) in
  book, s

(* The 96-byte head of a bar's reply: codes, P&L, fees, equity, position, waiting order. *)
let write_head r book (s : Book.step) =
  let pos = Book.position book and pending = Book.pending book in
  let problem = function None -> 0 | Some (r : Book.refusal) -> Book.problem_code r.problem in
  let state = match Book.state book with Book.Idle -> 0 | Book.Analyzing -> 1 | Book.In_position -> 2 in
  let flags = (if s.expired then 1 else 0) lor (if pos <> None then 4 else 0)
              lor (if pending <> None then 8 else 0) in
  O.u8 r (problem s.refusal); O.u8 r state; O.u8 r flags; O.u8 r (List.length s.fills);
  O.u8 r (problem s.refused_fill);
  (match pending with
   | None -> O.u8 r 0; O.u8 r 0; O.u8 r 0
   | Some o ->
     O.u8 r (match o.kind with Book.Market -> 0 | Book.Limit -> 1 | Book.Stop -> 2);
     O.u8 r (if o.is_entry then 1 else 0); O.u8 r (side_code o.side));
  O.f64 r (Book.realized_pnl book); O.f64 r (Book.fees_paid book); O.f64 r (Book.equity book);
  (match pos with
   | None -> for _ = 1 to 5 do O.f64 r 0. done; O.u32 r 0; O.u32 r 0
   | Some p ->
     O.f64 r p.quantity; O.f64 r p.entry_price; O.f64 r p.entry_fee; O.f64 r (opt p.stop_loss);
     O.f64 r (opt p.take_profit); O.u32 r (min p.bars_held 0xFFFF_FFFF); O.u32 r (side_code p.side));
  (match pending with
   | None -> O.f64 r 0.; O.f64 r 0.
   | Some o ->
     O.f64 r o.level;
     O.f64 r (match o.bars_left with None -> 0. | Some n -> Float.of_int n))

(* What follows a head: the bar's fills, then its refusal texts. *)
let write_tail r (s : Book.step) =
  List.iter (fun (f : Book.fill) ->
      O.u8 r (if f.entry then 1 else 0); O.u8 r (side_code f.side); O.u8 r (reason_code f.reason);
      O.u8 r 0; O.u32 r 0;
      O.f64 r f.price; O.f64 r f.quantity; O.f64 r f.fee; O.f64 r f.pnl;
      O.f64 r f.entry_price; O.f64 r f.entry_fee)
    s.fills;
  refusal_text r s.refusal;
  refusal_text r s.refused_fill

let bar t c out =
  let record = read_record c in
  C.finish c "the action's fields";
  let book, s = step t record in
  let r = O.start out (256 + 56 * List.length s.fills) in
  write_head r book s;
  write_tail r s;
  r

(* Body: u32 count, u32 0, count x a BOOK_BAR body. Reply: u32 count, u32 0, the
   count heads, then the tails (fills, refusal texts) of the bars in order. *)
let bars t c out =
  let count = C.u32 c "bar count" in
  C.skip c 4 "reserved";
  let records = Array.init count (fun _ -> read_record c) in
  C.finish c "the last bar";
  let r = O.start out (8 + 96 * count + 256) in
  O.u32 r count; O.u32 r 0;
  (* each head right after its step: it reads the book's state after that bar *)
  let steps = Array.mapi (fun k record ->
      match step t record with
      | book, s -> write_head r book s; s
      | exception Wire.Bad_request (code, msg) ->
        bad code "bar %d of %d (the bars before it were applied): %s" k count msg)
      records in
  Array.iter (write_tail r) steps;
  r

(* Body: u32 count, u32 0, count x u32 book id. *)
let close_books t c out =
  let count = C.u32 c "book count" in
  C.skip c 4 "reserved";
  let ids = List.init count (fun _ -> C.u32 c "book id") in
  C.finish c "the book ids";
  List.iter (fun id -> if not (Hashtbl.mem t.books id) then
                bad Wire.Code.unknown_book "unknown book id %d (never opened, or already closed)" id)
    ids;
  List.iter (Hashtbl.remove t.books) ids;
  let b = O.start out 8 in
  O.u32 b count; O.u32 b 0;
  b
