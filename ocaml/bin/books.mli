(** The book messages of the server (docs/protocol.md, "Books"): the
    execution model of {!Tandem.Book}, one stateful book per symbol. *)

type t
(** The open books and the next book id. *)

val create : unit -> t

val open_book : t -> Wire.Cursor.t -> Wire.Out.t -> Wire.Out.t
(** BOOK_OPEN: costs and execution settings in, the new book's id out.
    Settings out of range → [Bad_request invalid_argument]. *)

val bar : t -> Wire.Cursor.t -> Wire.Out.t -> Wire.Out.t
(** BOOK_BAR: one bar and the strategy's action (or none) in; the fills, the
    refusals, the position, the waiting order, realized P&L, fees and marked
    equity out. An unknown book, a bar out of order, a non-finite or
    inconsistent price, a field the action does not take → [Bad_request]
    and the book is unchanged. *)

val bars : t -> Wire.Cursor.t -> Wire.Out.t -> Wire.Out.t
(** BOOK_BARS: many BOOK_BAR bodies in one request, run in order (any books);
    the reply holds every bar's 96-byte head, then the fills and refusal texts
    of the bars that have them, in bar order. The first bar that BOOK_BAR
    would refuse → [Bad_request] naming its index; the bars before it stay
    applied, it and the rest are not. *)

val close_books : t -> Wire.Cursor.t -> Wire.Out.t -> Wire.Out.t
(** BOOK_CLOSE: closes every listed book, or none when one is unknown. *)
