// qw_beats: a first-word-fall-through FIFO of DRAM beats on a qw_ram (block RAM): `head` is
// the oldest beat whenever `valid`; `pop` takes it. A beat pushed into an empty FIFO shows
// at the head two cycles later; after that the FIFO pops one beat a cycle.
module qw_beats #(
    parameter int W = 32,
    parameter int N = 64,
    parameter int LOG = 6
) (
    input  logic         clk,
    input  logic         clear,
    input  logic         push,
    input  logic [W-1:0] din,
    input  logic         pop,
    output logic [W-1:0] head,
    output logic         valid
);
  logic [LOG-1:0] wr, rd;
  logic [LOG:0] stored;     // beats in the RAM, not yet read out of it
  logic loading;            // the RAM's output holds the beat read last cycle
  logic [W-1:0] ram_out, held;
  logic held_ok;
  // read the next beat when the head is free or leaves this cycle
  wire take = stored != 0 && (!valid || pop);
  qw_ram #(.N(N), .LOG(LOG), .W(W)) ram (
      .clk, .we(push), .wa(wr), .wd(din), .ra(rd), .rd(ram_out));
  // the head is the beat just read, or the one held since
  assign head = loading ? ram_out : held;
  assign valid = loading || held_ok;
  always_ff @(posedge clk) begin
    if (clear) begin
      wr <= 0;
      rd <= 0;
      stored <= 0;
      loading <= 0;
      held_ok <= 0;
    end else begin
      if (push) wr <= wr + 1'b1;
      if (take) rd <= rd + 1'b1;
      stored <= stored + (LOG+1)'(push) - (LOG+1)'(take);
      // a head not popped this cycle is held
      if (valid && !pop) begin
        held <= head;
        held_ok <= 1;
      end else held_ok <= 0;
      loading <= take;
    end
  end
endmodule
