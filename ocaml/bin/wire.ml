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
end

type frame = { kind : int; id : int; payload : Bytes.t; length : int }
type reader = { ic : in_channel; mutable buf : Bytes.t }

let reader ic = { ic; buf = Bytes.create 65536 }

(* Reads exactly [len] bytes; returns how many arrived before end of input. *)
let rec fill ic buf pos len =
  if len = 0 then pos
  else
    let k = input ic buf pos len in
    if k = 0 then pos else fill ic buf (pos + k) (len - k)

let u32_at buf pos = Int32.to_int (Bytes.get_int32_le buf pos) land 0xFFFF_FFFF

let read_frame r =
  let header = Bytes.create 4 in
  match fill r.ic header 0 4 with
  | 0 -> None
  | got when got < 4 -> raise (Corrupt (Printf.sprintf "truncated length prefix (%d of 4 bytes)" got))
  | _ ->
    let length = u32_at header 0 in
    if length < 8 || length > max_payload then
      raise (Corrupt (Printf.sprintf "frame length %d outside [8, %d]" length max_payload));
    if Bytes.length r.buf < length then r.buf <- Bytes.create (max length (2 * Bytes.length r.buf));
    let got = fill r.ic r.buf 0 length in
    if got < length then
      raise (Corrupt (Printf.sprintf "truncated frame: %d of %d payload bytes" got length));
    Some { kind = Bytes.get_uint8 r.buf 0; id = u32_at r.buf 4; payload = r.buf; length }

let write_frame oc ~kind ~id body =
  let header = Bytes.make 12 '\000' in
  Bytes.set_int32_le header 0 (Int32.of_int (8 + Buffer.length body));
  Bytes.set_uint8 header 4 kind;
  Bytes.set_int32_le header 8 (Int32.of_int id);
  output_bytes oc header;
  Buffer.output_buffer oc body;
  flush oc

module Cursor = struct
  type t = { buf : Bytes.t; mutable pos : int; limit : int }

  let of_frame f = { buf = f.payload; pos = 8; limit = f.length }

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
    let b = c.buf in
    for i = 0 to n - 1 do
      Array.unsafe_set a i (Int64.float_of_bits (Bytes.get_int64_le b (p + (8 * i))))
    done;
    a

  let str8 c what =
    let n = u8 c what in
    Bytes.sub_string c.buf (advance c n what) n

  let skip c n what = ignore (advance c n what)

  let finish c what =
    if c.pos <> c.limit then
      raise (Bad_request (Code.malformed,
        Printf.sprintf "malformed request: %d unexpected bytes after %s" (c.limit - c.pos) what))
end

module Out = struct
  let u8 = Buffer.add_uint8
  let u16 = Buffer.add_uint16_le
  let u32 b v = Buffer.add_int32_le b (Int32.of_int v)
  let f64 b v = Buffer.add_int64_le b (Int64.bits_of_float v)
  let floats b a = Array.iter (fun v -> Buffer.add_int64_le b (Int64.bits_of_float v)) a

  let str8 b s =
    let s = if String.length s > 255 then String.sub s 0 255 else s in
    u8 b (String.length s); Buffer.add_string b s

  let str16 b s =
    let s = if String.length s > 65535 then String.sub s 0 65535 else s in
    u16 b (String.length s); Buffer.add_string b s

  let padded b s =
    Buffer.add_string b s;
    Buffer.add_string b (String.make ((8 - (String.length s mod 8)) mod 8) '\000')
end
