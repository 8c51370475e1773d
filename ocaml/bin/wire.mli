(** Framing and little-endian encoding of the Tandem indicator protocol
    (docs/protocol.md). A frame is a u32 payload length followed by the
    payload: an 8-byte header (u8 kind, u8 0, u16 0, u32 request id) and
    the body. Floats travel as their raw IEEE-754 bits, little-endian. *)

val version : int
(** The protocol version this server speaks. *)

val max_payload : int
(** Largest payload accepted (1 GiB); anything larger is a corrupt frame. *)

exception Corrupt of string
(** The byte stream cannot be trusted any more (bad length, truncated frame,
    unknown message kind): the server reports it and exits non-zero. *)

exception Bad_request of int * string
(** A well-framed request that cannot be served: error code and message.
    The server answers it with an error reply and keeps serving. *)

(** Error codes carried by error replies and failed batch entries. *)
module Code : sig
  val malformed : int
  val unknown_indicator : int
  val invalid_argument : int
  val non_finite : int
  val length_mismatch : int
  val unknown_stream : int
  val version : int
  val internal : int
  val unknown_book : int
  val out_of_order : int
end

type frame = {
  kind : int;
  id : int;
  payload : Bytes.t;
  base : int;
  length : int;
  series : (float array * int) array option;
}
(** One received frame: its payload is [payload] from [base] to [base + length],
    the body from [base + 8]. Valid until the next [read_frame]. For a large
    batch or open-stream request, [series] holds the four input arrays (each
    with the index of its first non-finite value, or -1), already read straight
    from the pipe, and the payload lacks their bytes. *)

type reader
(** Reads frames from a file descriptor, reusing one growable buffer. *)

val reader : int -> reader
(** [reader fd]; the server uses 0 (stdin). *)

val read_frame : reader -> frame option
(** The next frame, or [None] on end of input at a frame boundary.
    Raises [Corrupt] on a bad length or a truncated frame. *)

(** A growable reply body; [create] with the expected size avoids regrowth. *)
module Out : sig
  type t
  val create : int -> t

  val start : t -> int -> t
  (** Empties the writer for a new reply of about [size] bytes; returns it. *)

  val u8 : t -> int -> unit
  val u16 : t -> int -> unit
  val u32 : t -> int -> unit
  val f64 : t -> float -> unit
  val floats : t -> float array -> unit
  val str8 : t -> string -> unit
  val string : t -> string -> unit
  val padded : t -> string -> unit
  (** The string's bytes, zero-padded to a multiple of 8. *)
end

val write_frame : int -> kind:int -> id:int -> Out.t -> unit
(** [write_frame fd ~kind ~id body] writes one frame (one system call unless
    the pipe is full). Raises [Sys_error] if the descriptor fails. *)

val has_frame : reader -> bool
(** Whether a whole frame is already buffered: [read_frame] needs no system call. *)

type sink
(** Replies on their way to a descriptor: small ones may be held to be
    written together with the following ones. *)

val sink : int -> sink

val send : sink -> more:bool -> kind:int -> id:int -> Out.t -> unit
(** Like [write_frame], except that a small reply (at most 64 KiB in one
    piece) is held while [more] (another request is already buffered, see
    [has_frame]) and up to 1 MiB; otherwise everything held is written, in
    order, in one system call. The server's loop passes [has_frame], so it
    never blocks reading while holding a reply. *)

val flush : sink -> unit
(** Writes every held reply. *)

(** A bounds-checked cursor over a frame's body. Running past the end raises
    [Bad_request (Code.malformed, _)] naming the field being read. *)
module Cursor : sig
  type t
  val of_frame : frame -> t

  val series : t -> (float array * int) array option
  (** The frame's pre-read input arrays, if any (see [frame]). *)

  val u8 : t -> string -> int
  val u16 : t -> string -> int
  val u32 : t -> string -> int
  val f64 : t -> string -> float
  val floats : t -> int -> string -> float array * int
  (** [n] floats, and the index of the first non-finite one (or -1). *)

  val str8 : t -> string -> string
  val skip : t -> int -> string -> unit

  val finish : t -> string -> unit
  (** Raises [Bad_request] when bytes remain after the last field. *)
end
