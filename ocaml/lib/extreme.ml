(* A deque of (index, value) pairs in a ring of [cap] slots. Values are kept
   monotonic (decreasing for max, increasing for min), so the front holds the
   extreme. An index leaves when it is [cap] pushes old. *)
type t = {
  cap : int;
  is_max : bool;
  idx : int array;
  vals : float array;
  mutable head : int;
  mutable len : int;
  mutable next : int;  (* index of the next push *)
}

let create is_max cap =
  if cap < 1 then invalid_arg "Extreme.create: window must be >= 1";
  { cap; is_max; idx = Array.make cap 0; vals = Array.make cap 0.0;
    head = 0; len = 0; next = 0 }

let create_max cap = create true cap
let create_min cap = create false cap

let push d v =
  let i = d.next in
  d.next <- i + 1;
  (* expire the front first, so the ring never needs cap + 1 slots *)
  if d.len > 0 && d.idx.(d.head) <= i - d.cap then begin
    d.head <- (if d.head + 1 = d.cap then 0 else d.head + 1);
    d.len <- d.len - 1
  end;
  (* drop dominated values from the back *)
  let continue = ref true in
  while !continue && d.len > 0 do
    let back = (d.head + d.len - 1) mod d.cap in
    let b = d.vals.(back) in
    if (d.is_max && b <= v) || ((not d.is_max) && b >= v) then d.len <- d.len - 1
    else continue := false
  done;
  let pos = (d.head + d.len) mod d.cap in
  d.idx.(pos) <- i;
  d.vals.(pos) <- v;
  d.len <- d.len + 1

let current d = d.vals.(d.head)
