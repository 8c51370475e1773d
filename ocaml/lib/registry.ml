(* Parameter kinds: an integer with TA-Lib's lower bound, or a real. *)
type kind = Int of int | Real

type param = { pname : string; default : float; kind : kind }

type spec = {
  name : string;
  inputs : string list;
  params : param list;
  outputs : string list;
  batch : float array array -> float array -> float array array;
  batch_trusted : float array array -> float array -> float array array;
  stream : float array -> Stream.t;
  lookback : float array -> int;
}

let max_p = Batch.max_period

let real_max = 3e37

let int_p pname default lo = { pname; default; kind = Int lo }

let check_params name (ps : param list) (vals : float array) =
  if Array.length vals <> List.length ps then
    Check.fail "%s: expected %d parameter(s) (%s), got %d" name (List.length ps)
      (String.concat ", " (List.map (fun p -> p.pname) ps))
      (Array.length vals);
  List.iteri
    (fun i p ->
      match p.kind with
      | Int lo -> ignore (Check.int_of_param name p.pname ~lo ~hi:max_p vals.(i))
      | Real -> Check.real name p.pname ~lo:(-.real_max) ~hi:real_max vals.(i))
    ps

let check_inputs name (inputs : string list) (arrs : float array array) =
  if Array.length arrs <> List.length inputs then
    Check.fail "%s: expected %d input series (%s), got %d" name
      (List.length inputs) (String.concat ", " inputs) (Array.length arrs)

(* [batch (module B) inputs params] computes with B = Batch or Batch.Trusted. *)
let make name inputs ps outputs ~(batch : (module Batch.S) -> _) ~stream ~lookback =
  let checked (module B : Batch.S) arrs p =
    check_inputs name inputs arrs;
    check_params name ps p;
    batch (module B : Batch.S) arrs p
  in
  {
    name;
    inputs;
    params = ps;
    outputs;
    batch = checked (module Batch);
    batch_trusted = checked (module Batch.Trusted);
    stream =
      (fun p ->
        check_params name ps p;
        stream p);
    lookback =
      (fun p ->
        check_params name ps p;
        lookback p);
  }

let ip (p : float array) k = int_of_float p.(k)
let one a = [| a |]
let three (a, b, c) = [| a; b; c |]
let two (a, b) = [| a; b |]
let period d lo = [ int_p "period" d lo ]

(* one bar field, one int period *)
let field1 name field d lo batch stream lb =
  make name [ field ] (period d lo) [ "value" ]
    ~batch:(fun m a p -> one (batch m a.(0) (ip p 0)))
    ~stream:(fun p -> stream (ip p 0))
    ~lookback:(fun p -> lb (ip p 0))

(* close-only is field1 on "close" *)
let close1 name = field1 name "close"

(* high-low-close, one int period *)
let hlc1 name d lo batch stream lb =
  make name [ "high"; "low"; "close" ] (period d lo) [ "value" ]
    ~batch:(fun m a p -> one (batch m a.(0) a.(1) a.(2) (ip p 0)))
    ~stream:(fun p -> stream (ip p 0))
    ~lookback:(fun p -> lb (ip p 0))

let macd_lookback p =
  let f = ip p 0 and s = ip p 1 and g = ip p 2 in
  max f s - 1 + (g - 1)

let all =
  [
    close1 "sma" 30.0 1 (fun (module B : Batch.S) -> B.sma) Stream.sma (fun n -> n - 1);
    close1 "ema" 30.0 1 (fun (module B : Batch.S) -> B.ema) Stream.ema (fun n -> n - 1);
    close1 "wma" 30.0 1 (fun (module B : Batch.S) -> B.wma) Stream.wma (fun n -> n - 1);
    close1 "rsi" 14.0 2 (fun (module B : Batch.S) -> B.rsi) Stream.rsi (fun n -> n);
    make "macd" [ "close" ]
      [ int_p "fast" 12.0 2; int_p "slow" 26.0 2; int_p "signal" 9.0 1 ]
      [ "macd"; "signal"; "histogram" ]
      ~batch:(fun (module B : Batch.S) a p -> three (B.macd a.(0) (ip p 0) (ip p 1) (ip p 2)))
      ~stream:(fun p -> Stream.macd (ip p 0) (ip p 1) (ip p 2))
      ~lookback:macd_lookback;
    make "bollinger" [ "close" ]
      [ int_p "period" 20.0 2;
        { pname = "nbdev_up"; default = 2.0; kind = Real };
        { pname = "nbdev_down"; default = 2.0; kind = Real } ]
      [ "upper"; "middle"; "lower" ]
      ~batch:(fun (module B : Batch.S) a p -> three (B.bollinger a.(0) (ip p 0) p.(1) p.(2)))
      ~stream:(fun p -> Stream.bollinger (ip p 0) p.(1) p.(2))
      ~lookback:(fun p -> ip p 0 - 1);
    hlc1 "atr" 14.0 1 (fun (module B : Batch.S) -> B.atr) Stream.atr (fun n -> n);
    make "stoch" [ "high"; "low"; "close" ]
      [ int_p "fastk" 5.0 1; int_p "slowk" 3.0 1; int_p "slowd" 3.0 1 ]
      [ "k"; "d" ]
      ~batch:(fun (module B : Batch.S) a p ->
        two (B.stoch a.(0) a.(1) a.(2) (ip p 0) (ip p 1) (ip p 2)))
      ~stream:(fun p -> Stream.stoch (ip p 0) (ip p 1) (ip p 2))
      ~lookback:(fun p -> ip p 0 - 1 + (ip p 1 - 1) + (ip p 2 - 1));
    hlc1 "willr" 14.0 2 (fun (module B : Batch.S) -> B.willr) Stream.willr (fun n -> n - 1);
    hlc1 "cci" 14.0 2 (fun (module B : Batch.S) -> B.cci) Stream.cci (fun n -> n - 1);
    hlc1 "adx" 14.0 2 (fun (module B : Batch.S) -> B.adx) Stream.adx (fun n -> (2 * n) - 1);
    make "mfi" [ "high"; "low"; "close"; "volume" ] (period 14.0 2) [ "value" ]
      ~batch:(fun (module B : Batch.S) a p -> one (B.mfi a.(0) a.(1) a.(2) a.(3) (ip p 0)))
      ~stream:(fun p -> Stream.mfi (ip p 0))
      ~lookback:(fun p -> ip p 0);
    make "obv" [ "close"; "volume" ] [] [ "value" ]
      ~batch:(fun (module B : Batch.S) a _ -> one (B.obv a.(0) a.(1)))
      ~stream:(fun _ -> Stream.obv ())
      ~lookback:(fun _ -> 0);
    close1 "roc" 10.0 1 (fun (module B : Batch.S) -> B.roc) Stream.roc (fun n -> n);
    close1 "mom" 10.0 1 (fun (module B : Batch.S) -> B.mom) Stream.mom (fun n -> n);
    field1 "highest" "high" 30.0 2 (fun (module B : Batch.S) -> B.highest) Stream.highest
      (fun n -> n - 1);
    field1 "lowest" "low" 30.0 2 (fun (module B : Batch.S) -> B.lowest) Stream.lowest
      (fun n -> n - 1);
    make "stddev" [ "close" ]
      [ int_p "period" 5.0 2; { pname = "nbdev"; default = 1.0; kind = Real } ]
      [ "value" ]
      ~batch:(fun (module B : Batch.S) a p -> one (B.stddev a.(0) (ip p 0) p.(1)))
      ~stream:(fun p -> Stream.stddev (ip p 0) p.(1))
      ~lookback:(fun p -> ip p 0 - 1);
  ]

let find name = List.find_opt (fun s -> s.name = name) all

let defaults spec = Array.of_list (List.map (fun p -> p.default) spec.params)
