let version = 1
let max_payload = 1 lsl 30

exception Corrupt of string
exception Bad_request of int * string

module Code = struct
  let malformed = 1
  let unknown_indicator = 2
  let invalid_argument = 3
  let non_finite = 4
  let length_mismatch = 5
  let unknown_stream = 6
  let version = 7
  let internal = 8
  let unknown_book = 9
  let out_of_order = 10
end

(* See floatbits.c: whole-array copies between wire bytes and float arrays (the
   first also returns the index of the first non-finite value, or -1). The
   caller checks bounds; the float array must be non-empty (a flat float block). *)
external floats_of_bytes : Bytes.t -> int -> float array -> int -> int
  = "tandem_floats_of_bytes" [@@noalloc]
external bytes_of_floats : float array -> Bytes.t -> int -> int -> unit
  = "tandem_bytes_of_floats" [@@noalloc]

external read_fd : int -> Bytes.t -> int -> int -> int = "tandem_read"
external writev_fd : int -> Obj.t array -> int array -> int array -> unit = "tandem_writev"

external read_into_floats : int -> float array -> int -> int -> int = "tandem_read_floats"
external copy_into_floats : Bytes.t -> int -> float array -> int -> int -> unit
  = "tandem_copy_into_floats" [@@noalloc]
external first_non_finite : float array -> int -> int -> int
  = "tandem_first_non_finite" [@@noalloc]

type frame = {
  kind : int;
  id : int;
  payload : Bytes.t;
  base : int;
  length : int;
  series : (float array * int) array option;
}

(* Input bytes not yet consumed are buf[start, stop). *)
type reader = { fd : int; mutable buf : Bytes.t; mutable start : int; mutable stop : int }

let reader fd = { fd; buf = Bytes.create (1 lsl 20); start = 0; stop = 0 }

(* Makes [n] unread bytes available (growing or compacting the buffer) and
   returns how many are, fewer than [n] only at end of input. Reads as much as
   the pipe offers, so small frames usually cost one system call. *)
let fill r n =
  if r.start + n > Bytes.length r.buf then begin
    let avail = r.stop - r.start in
    let dst = if n > Bytes.length r.buf then Bytes.create (max n (2 * Bytes.length r.buf)) else r.buf in
    Bytes.blit r.buf r.start dst 0 avail;
    r.buf <- dst; r.start <- 0; r.stop <- avail
  end;
  let rec go () =
    if r.stop - r.start >= n then n
    else
      let k = read_fd r.fd r.buf r.stop (Bytes.length r.buf - r.stop) in
      if k = 0 then r.stop - r.start else (r.stop <- r.stop + k; go ())
  in
  go ()

let u32_at buf pos = Int32.to_int (Bytes.get_int32_le buf pos) land 0xFFFF_FFFF

let truncated got length =
  raise (Corrupt (Printf.sprintf "truncated frame: %d of %d payload bytes" got length))

(* Fills [a] with [8 * Array.length a] wire bytes: first those already
   buffered, then straight from the descriptor into the array's memory. Each
   piece is checked for non-finite values while it is still in cache. Returns
   the index of the first non-finite value, or -1. *)
let read_floats r a ~frame_length ~consumed =
  let want = 8 * Array.length a in
  let first_bad = ref (-1) in
  let check ~from ~upto =
    if !first_bad < 0 && from < upto then first_bad := first_non_finite a (from / 8) (upto / 8) in
  let buffered = min want (r.stop - r.start) in
  if buffered > 0 then copy_into_floats r.buf r.start a 0 buffered;
  r.start <- r.start + buffered;
  let rec go off =
    if off < want then begin
      let k = read_into_floats r.fd a off (want - off) in
      if k = 0 then truncated (consumed + off) frame_length;
      (* floats completed by this read: from the one [off] falls in *)
      check ~from:(off - (off mod 8)) ~upto:(off + k - ((off + k) mod 8));
      go (off + k)
    end
  in
  check ~from:0 ~upto:(buffered - (buffered mod 8));
  go buffered;
  !first_bad

(* Large batch and open-stream requests (little-endian hosts): the series is
   read straight into float arrays, sparing a copy of megabytes of input. The
   frame then holds the payload without the arrays, and the arrays (with the
   index of their first non-finite value) in [series]. [None]: not applicable,
   read the frame the plain way (which also reports inconsistent lengths). *)
let direct_min = 1 lsl 20

let read_series_frame r length =
  if Sys.big_endian || fill r 36 < 36 then None
  else
  let kind = Bytes.get_uint8 r.buf (r.start + 4) in
  if kind <> 0x02 && kind <> 0x03 then None
  else begin
    let counts = Array.init 4 (fun i -> u32_at r.buf (r.start + 16 + (4 * i))) in
    let data = 8 * Array.fold_left ( + ) 0 counts in
    if 32 + data > length then None
    else begin
      let head = Bytes.sub r.buf (r.start + 4) 32 in
      r.start <- r.start + 36;
      let consumed = ref 32 in
      let series = Array.map (fun n ->
          let a = Array.create_float n in
          let first_bad = if n > 0 then read_floats r a ~frame_length:length ~consumed:!consumed
            else -1 in
          consumed := !consumed + (8 * n);
          a, first_bad)
          counts in
      let tail = length - 32 - data in
      let got = fill r tail in
      if got < tail then truncated (32 + data + got) length;
      let payload = Bytes.create (32 + tail) in
      Bytes.blit head 0 payload 0 32;
      Bytes.blit r.buf r.start payload 32 tail;
      r.start <- r.start + tail;
      Some { kind; id = u32_at head 4; payload; base = 0; length = 32 + tail; series = Some series }
    end
  end

(* The previous frame's bytes are released when the next one is read. *)
let read_frame r =
  match fill r 4 with
  | 0 -> None
  | got when got < 4 -> raise (Corrupt (Printf.sprintf "truncated length prefix (%d of 4 bytes)" got))
  | _ ->
    let length = u32_at r.buf r.start in
    if length < 8 || length > max_payload then
      raise (Corrupt (Printf.sprintf "frame length %d outside [8, %d]" length max_payload));
    let direct = if length >= direct_min then read_series_frame r length else None in
    match direct with
    | Some _ -> direct
    | None ->
      let got = fill r (4 + length) in
      if got < 4 + length then truncated (got - 4) length;
      let base = r.start + 4 in
      r.start <- r.start + 4 + length;
      Some { kind = Bytes.get_uint8 r.buf base; id = u32_at r.buf (base + 4); payload = r.buf;
             base; length; series = None }

module Out = struct
  (* A reply is the buffer's bytes interleaved with large float arrays that are
     written straight from the OCaml heap (on little-endian hosts their memory
     already is the wire format), which spares copying megabytes of output.
     [segments] holds, newest first, (block, offset, length) triples; the bytes
     from [open_from] to [pos] are the buffer's segment still being filled. *)
  type t = {
    mutable buf : Bytes.t;
    mutable pos : int;
    mutable open_from : int;
    mutable segments : (Obj.t * int * int) list;
    mutable total : int;  (* bytes in [segments] *)
  }

  (* The first 12 bytes are kept for the frame start (length prefix and header). *)
  let header_size = 12

  let create size =
    { buf = Bytes.create (header_size + max 16 size); pos = header_size; open_from = 0;
      segments = []; total = 0 }

  (* Reusing one buffer spares the page faults of a fresh multi-megabyte block
     per reply; an outsized one (> 64 MiB) is let go. *)
  let start o size =
    let cap = Bytes.length o.buf in
    let size = header_size + min size (1 lsl 20) in
    if cap < size || (cap > 1 lsl 26 && size <= 1 lsl 26) then o.buf <- Bytes.create size;
    o.pos <- header_size;
    o.open_from <- 0;
    o.segments <- [];
    o.total <- 0;
    o

  (* Makes room for [n] more bytes and returns where they go. A bigger buffer
     keeps the bytes of the open segment only: closed ones still point to the
     old buffer, which stays alive through them. *)
  let reserve o n =
    let need = o.pos + n in
    if need > Bytes.length o.buf then begin
      let keep = o.pos - o.open_from in
      let bigger = Bytes.create (max (keep + n) (2 * Bytes.length o.buf)) in
      Bytes.blit o.buf o.open_from bigger 0 keep;
      o.buf <- bigger;
      o.open_from <- 0;
      o.pos <- keep
    end;
    let p = o.pos in
    o.pos <- p + n;
    p

  let close_segment o =
    if o.pos > o.open_from then begin
      o.segments <- (Obj.repr o.buf, o.open_from, o.pos - o.open_from) :: o.segments;
      o.total <- o.total + (o.pos - o.open_from);
      o.open_from <- o.pos
    end

  let u8 o v = Bytes.set_uint8 o.buf (reserve o 1) v
  let u16 o v = Bytes.set_uint16_le o.buf (reserve o 2) v
  let u32 o v = Bytes.set_int32_le o.buf (reserve o 4) (Int32.of_int v)
  let f64 o v = Bytes.set_int64_le o.buf (reserve o 8) (Int64.bits_of_float v)

  let floats o a =
    let n = Array.length a in
    if n >= 512 && not Sys.big_endian then begin
      close_segment o;
      o.segments <- (Obj.repr a, 0, 8 * n) :: o.segments;
      o.total <- o.total + (8 * n)
    end
    else begin
      let p = reserve o (8 * n) in
      if n > 0 then bytes_of_floats a o.buf p n
    end

  let string o s = Bytes.blit_string s 0 o.buf (reserve o (String.length s)) (String.length s)

  let str8 o s =
    let s = if String.length s > 255 then String.sub s 0 255 else s in
    u8 o (String.length s); string o s

  let padded o s =
    string o s;
    string o (String.make ((8 - (String.length s mod 8)) mod 8) '\000')
end

(* Writes the frame start into the reply's first segment; returns the segments. *)
let stamp ~kind ~id (body : Out.t) =
  Out.close_segment body;
  let segments = Array.of_list (List.rev body.segments) in
  (* The frame start sits at the beginning of the first segment (offset 0). *)
  let b = body.buf and first, _, _ = segments.(0) in
  let b = if first == Obj.repr b then b else (Obj.obj first : Bytes.t) in
  Bytes.set_int32_le b 0 (Int32.of_int (body.total - 4));
  Bytes.set_int32_le b 4 0l;
  Bytes.set_uint8 b 4 kind;
  Bytes.set_int32_le b 8 (Int32.of_int id);
  segments

let writev_segments fd segments =
  writev_fd fd (Array.map (fun (blk, _, _) -> blk) segments)
    (Array.map (fun (_, off, _) -> off) segments) (Array.map (fun (_, _, len) -> len) segments)

let write_frame fd ~kind ~id (body : Out.t) = writev_segments fd (stamp ~kind ~id body)

let has_frame r =
  let avail = r.stop - r.start in
  avail >= 4 && avail >= 4 + u32_at r.buf r.start

type sink = { sink_fd : int; held : Buffer.t }

let sink fd = { sink_fd = fd; held = Buffer.create 65536 }

let flush s =
  if Buffer.length s.held > 0 then begin
    let b = Buffer.to_bytes s.held in
    Buffer.clear s.held;
    writev_fd s.sink_fd [| Obj.repr b |] [| 0 |] [| Bytes.length b |]
  end

(* Pipelined requests (shadow mode sends a batch of PUSH or BOOK_BAR frames in
   one write) used to cost one writev per reply: 40,000 writev calls in a
   20,000-bar shadow run (strace -c -f, bench/shadow.py), the largest part of
   the servers' CPU and one wake-up of the client's reader each. Holding the
   small replies while the next request is already buffered sends a batch's
   replies in a few writes instead. *)
let held_max = 1 lsl 20

let send s ~more ~kind ~id (body : Out.t) =
  let segments = stamp ~kind ~id body in
  match segments with
  | [| (blk, 0, len) |] when len <= 65536 ->
    Buffer.add_subbytes s.held (Obj.obj blk : Bytes.t) 0 len;
    if not more || Buffer.length s.held >= held_max then flush s
  | _ -> flush s; writev_segments s.sink_fd segments

module Cursor = struct
  type t = {
    buf : Bytes.t;
    mutable pos : int;
    limit : int;
    series : (float array * int) array option;
  }

  let of_frame f = { buf = f.payload; pos = f.base + 8; limit = f.base + f.length; series = f.series }
  let series c = c.series

  let need c n what =
    if c.pos + n > c.limit then
      raise (Bad_request (Code.malformed,
        Printf.sprintf "malformed request: body ends while reading %s (%d bytes needed, %d left)"
          what n (c.limit - c.pos)))

  let advance c n what = need c n what; let p = c.pos in c.pos <- p + n; p
  let u8 c what = Bytes.get_uint8 c.buf (advance c 1 what)
  let u16 c what = Bytes.get_uint16_le c.buf (advance c 2 what)
  let u32 c what = u32_at c.buf (advance c 4 what)
  let f64 c what = Int64.float_of_bits (Bytes.get_int64_le c.buf (advance c 8 what))

  let floats c n what =
    let p = advance c (8 * n) what in
    let a = Array.create_float n in
    let first_bad = if n > 0 then floats_of_bytes c.buf p a n else -1 in
    a, first_bad

  let str8 c what =
    let n = u8 c what in
    Bytes.sub_string c.buf (advance c n what) n

  let skip c n what = ignore (advance c n what)

  let finish c what =
    if c.pos <> c.limit then
      raise (Bad_request (Code.malformed,
        Printf.sprintf "malformed request: %d unexpected bytes after %s" (c.limit - c.pos) what))
end
