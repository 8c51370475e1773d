open Tandem
module C = Wire.Cursor
module O = Wire.Out

let kind_hello = 0x01
let kind_batch = 0x02
let kind_open = 0x03
let kind_push = 0x04
let kind_close = 0x05
let kind_book_open = 0x06
let kind_book_bar = 0x07
let kind_book_close = 0x08
let kind_book_bars = 0x09
let kind_error = 0xFF

type entry = { spec : Registry.spec; stream : Stream.t }
type t = { streams : (int, entry) Hashtbl.t; mutable next_id : int; out : O.t; books : Books.t }

let create () =
  { streams = Hashtbl.create 64; next_id = 1; out = O.create 65536; books = Books.create () }
let bad code fmt = Printf.ksprintf (fun msg -> raise (Wire.Bad_request (code, msg))) fmt

(* --- series: the four input arrays of a batch or open-stream request --- *)

let fields = [| "high"; "low"; "close"; "volume" |]

type series = {
  arrays : float array array;  (* indexed like [fields]; absent = empty *)
  first_bad : int array;       (* index of the first non-finite value, or -1 *)
}

let field_index name =
  let rec go i = if i = 4 then invalid_arg ("unknown input " ^ name)
    else if fields.(i) = name then i else go (i + 1) in
  go 0

(* Body layout: u16 njobs, u16 0, u32 length per field, u32 0, the arrays. *)
let read_series c =
  let njobs = C.u16 c "job count" in
  C.skip c 2 "reserved";
  let lengths = Array.map (fun f -> C.u32 c (f ^ " length")) fields in
  C.skip c 4 "reserved";
  let decoded =
    match C.series c with
    | Some pre -> pre  (* a large request: already read straight into arrays *)
    | None -> Array.mapi (fun i f -> C.floats c lengths.(i) f) fields
  in
  njobs, { arrays = Array.map fst decoded; first_bad = Array.map snd decoded }

type job = { spec : Registry.spec; params : float array }

let known_names () = String.concat ", " (List.map (fun (s : Registry.spec) -> s.name) Registry.all)

let describe_params (spec : Registry.spec) =
  String.concat ", " (List.map (fun (p : Registry.param) -> p.pname) spec.params)

let resolve name params =
  match Registry.find name with
  | None -> bad Wire.Code.unknown_indicator "unknown indicator %S; known indicators: %s" name (known_names ())
  | Some spec ->
    let expected = List.length spec.params in
    if Array.length params <> expected then
      bad Wire.Code.invalid_argument "%s takes %d parameter(s) (%s), got %d" name expected
        (describe_params spec) (Array.length params);
    List.iteri (fun i ({ pname; _ } : Registry.param) ->
        if not (Float.is_finite params.(i)) then
          bad Wire.Code.invalid_argument "%s: %s = %s is not a finite number" name pname
            (Float.to_string params.(i)))
      spec.params;
    { spec; params }

(* Job layout: str8 indicator name, u8 parameter count, the parameters as f64. *)
let read_job c =
  let name = C.str8 c "indicator name" in
  let n = C.u8 c "parameter count" in
  let params = Array.init n (fun _ -> C.f64 c "a parameter") in
  name, params

(* The job's input arrays in spec order, after checking lengths and finiteness. *)
let inputs (job : job) series =
  let idx = List.map field_index job.spec.inputs in
  (match idx with
   | [] -> ()
   | i0 :: rest ->
     let n0 = Array.length series.arrays.(i0) in
     List.iter (fun i ->
         let n = Array.length series.arrays.(i) in
         if n <> n0 then
           bad Wire.Code.length_mismatch "%s: %s has %d values but %s has %d; inputs must have equal lengths"
             job.spec.name fields.(i0) n0 fields.(i) n)
       rest);
  List.iter (fun i ->
      let k = series.first_bad.(i) in
      if k >= 0 then
        bad Wire.Code.non_finite "%s: %s[%d] = %s is not finite; inputs must be finite numbers"
          job.spec.name fields.(i) k (Float.to_string series.arrays.(i).(k)))
    idx;
  Array.of_list (List.map (fun i -> series.arrays.(i)) idx)

(* Runs library code, turning its exceptions into request errors. *)
let guarded name f =
  try f () with
  | Wire.Bad_request _ as e -> raise e
  | Invalid_argument msg ->
    (* The library's messages usually start with the indicator's name already. *)
    let prefix = name ^ ":" in
    let named = String.length msg >= String.length prefix
                && String.sub msg 0 (String.length prefix) = prefix in
    bad Wire.Code.invalid_argument "%s" (if named then msg else prefix ^ " " ^ msg)
  | Out_of_memory | Stack_overflow as e -> raise e
  | e -> bad Wire.Code.internal "%s: internal error: %s" name (Printexc.to_string e)

let compute (job : job) series =
  let ins = inputs job series in
  let n = if Array.length ins = 0 then 0 else Array.length ins.(0) in
  (* [inputs] checked lengths and finiteness already: skip the library's re-scan *)
  let outs = guarded job.spec.name (fun () -> job.spec.batch_trusted ins job.params) in
  let nout = List.length job.spec.outputs in
  if Array.length outs <> nout || Array.exists (fun o -> Array.length o <> n) outs then
    bad Wire.Code.internal "%s: internal error: library returned %d outputs of the wrong shape"
      job.spec.name (Array.length outs);
  outs

(* A status entry of a batch or push reply: u8 status, u8 nout, u16 0, u32 n. *)
let entry_ok b nout n = O.u8 b 0; O.u8 b nout; O.u16 b 0; O.u32 b n
let entry_error b (code, msg) =
  O.u8 b code; O.u8 b 0; O.u16 b 0; O.u32 b (String.length msg); O.padded b msg

let attempt f = try Ok (f ()) with Wire.Bad_request (code, msg) -> Error (code, msg)

(* --- handlers --- *)

let hello t c =
  let v = C.u32 c "protocol version" in
  C.finish c "hello";
  if v <> Wire.version then
    bad Wire.Code.version "client speaks protocol version %d, this server speaks %d" v Wire.version;
  let b = O.start t.out 2048 in
  O.u32 b Wire.version;
  O.u32 b (List.length Registry.all);
  List.iter (fun (s : Registry.spec) ->
      O.str8 b s.name;
      O.u8 b (List.length s.inputs); List.iter (O.str8 b) s.inputs;
      O.u8 b (List.length s.params);
      List.iter (fun (p : Registry.param) -> O.str8 b p.pname; O.f64 b p.default) s.params;
      O.u8 b (List.length s.outputs); List.iter (O.str8 b) s.outputs)
    Registry.all;
  b

let batch t c =
  let njobs, series = read_series c in
  (* Decode every job before computing any, so a malformed body fails whole. *)
  let jobs = List.init njobs (fun _ -> read_job c) in
  C.finish c "the last job";
  let results =
    List.map (fun (name, params) -> attempt (fun () -> compute (resolve name params) series)) jobs in
  let size = List.fold_left (fun acc r -> match r with
      | Ok outs -> acc + 8 + Array.fold_left (fun a o -> a + 8 * Array.length o) 0 outs
      | Error (_, m) -> acc + 16 + String.length m) 8 results in
  let b = O.start t.out size in
  O.u16 b njobs; O.u16 b 0; O.u32 b 0;
  List.iter (function
      | Ok outs ->
        entry_ok b (Array.length outs) (if Array.length outs = 0 then 0 else Array.length outs.(0));
        Array.iter (O.floats b) outs
      | Error e -> entry_error b e)
    results;
  b

let open_stream t c =
  let njobs, series = read_series c in
  if njobs <> 1 then bad Wire.Code.malformed "malformed request: open-stream carries %d jobs, expected 1" njobs;
  let name, params = read_job c in
  C.finish c "the stream's indicator";
  let job = resolve name params in
  let ins = inputs job series in
  let stream = guarded job.spec.name (fun () -> job.spec.stream job.params) in
  let nout = Stream.n_outputs stream in
  let col name fallback =
    match List.assoc_opt name (List.mapi (fun k n -> n, ins.(k)) job.spec.inputs) with
    | Some a -> (fun i -> a.(i)) | None -> fallback in
  let first = if Array.length ins = 0 then (fun _ -> 0.0) else (fun i -> ins.(0).(i)) in
  let close = col "close" first in
  let high = col "high" close and low = col "low" close and volume = col "volume" (fun _ -> 0.0) in
  let n = if Array.length ins = 0 then 0 else Array.length ins.(0) in
  let last = ref (Array.make nout Float.nan) in
  guarded job.spec.name (fun () ->
      for i = 0 to n - 1 do
        last := Stream.update stream ~high:(high i) ~low:(low i) ~close:(close i) ~volume:(volume i)
      done);
  let id = t.next_id in
  t.next_id <- (if id >= 0xFFFF_FFFF then 1 else id + 1);
  Hashtbl.replace t.streams id { spec = job.spec; stream };
  let b = O.start t.out (8 + 8 * nout) in
  O.u32 b id; O.u8 b nout; O.u8 b 0; O.u16 b 0;
  O.floats b !last;
  b

let find_stream t id =
  match Hashtbl.find_opt t.streams id with
  | Some e -> e
  | None -> bad Wire.Code.unknown_stream "unknown stream id %d (never opened, or already closed)" id

(* Body: u32 count, u32 0, f64 high, low, close, volume, count x u32 stream id. *)
let push t c =
  let count = C.u32 c "stream count" in
  C.skip c 4 "reserved";
  let bar = Array.map (fun f -> f, C.f64 c f) fields in
  let ids = List.init count (fun _ -> C.u32 c "stream id") in
  C.finish c "the stream ids";
  Array.iter (fun (f, v) ->
      if not (Float.is_finite v) then
        bad Wire.Code.non_finite "push: %s = %s is not finite; bars must be finite numbers" f
          (Float.to_string v))
    bar;
  let v i = snd bar.(i) in
  let b = O.start t.out (8 + (count * 40)) in
  O.u32 b count; O.u32 b 0;
  List.iter (fun id ->
      match attempt (fun () ->
          let e = find_stream t id in
          guarded e.spec.name (fun () ->
              Stream.update e.stream ~high:(v 0) ~low:(v 1) ~close:(v 2) ~volume:(v 3))) with
      | Ok values -> entry_ok b (Array.length values) 1; O.floats b values
      | Error e -> entry_error b e)
    ids;
  b

(* Body: u32 count, u32 0, count x u32 stream id. Closes all or none. *)
let close_streams t c =
  let count = C.u32 c "stream count" in
  C.skip c 4 "reserved";
  let ids = List.init count (fun _ -> C.u32 c "stream id") in
  C.finish c "the stream ids";
  List.iter (fun id -> ignore (find_stream t id)) ids;
  List.iter (Hashtbl.remove t.streams) ids;
  let b = O.start t.out 8 in
  O.u32 b count; O.u32 b 0;
  b

let error_body t (code, msg) =
  let b = O.start t.out (8 + String.length msg) in
  O.u16 b code; O.u16 b 0; O.u32 b (String.length msg); O.string b msg;
  b

let dispatch t (f : Wire.frame) c =
  if f.kind = kind_hello then hello t c
  else if f.kind = kind_batch then batch t c
  else if f.kind = kind_open then open_stream t c
  else if f.kind = kind_push then push t c
  else if f.kind = kind_close then close_streams t c
  else if f.kind = kind_book_open then Books.open_book t.books c t.out
  else if f.kind = kind_book_bar then Books.bar t.books c t.out
  else if f.kind = kind_book_close then Books.close_books t.books c t.out
  else if f.kind = kind_book_bars then Books.bars t.books c t.out
  else raise (Wire.Corrupt (Printf.sprintf "unknown message kind 0x%02x" f.kind))

let handle t (f : Wire.frame) =
  let c = C.of_frame f in
  match dispatch t f c with
  | body -> f.kind lor 0x80, body
  | exception Wire.Bad_request (code, msg) -> kind_error, error_body t (code, msg)
