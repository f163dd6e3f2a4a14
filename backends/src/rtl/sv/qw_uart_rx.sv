// qw_uart_rx: a UART receiver, 8 data bits, no parity, one stop bit, DIV clock cycles a bit:
// the line passes two flip-flops (it comes from another clock), a falling edge starts a
// byte, and each bit is sampled in its middle; a byte whose start bit does not hold or whose
// stop bit is low is dropped. `valid` is high for one cycle with each byte.
module qw_uart_rx #(
    parameter int DIV = 24,
    parameter int CW = 6      // bits of the bit-time counter (DIV < 2^CW)
) (
    input  logic       clk,
    input  logic       reset,
    input  logic       rx,
    output logic       valid,
    output logic [7:0] data
);
  logic [1:0] line;
  logic busy;
  logic [3:0] bitn;           // 0 the start bit, 1..8 data, 9 the stop bit
  logic [CW-1:0] wait_n;
  always_ff @(posedge clk) begin
    line <= {line[0], rx};
    valid <= 0;
    if (reset) busy <= 0;
    else if (!busy) begin
      if (!line[1]) begin
        busy <= 1;
        bitn <= 0;
        wait_n <= CW'(DIV / 2);
      end
    end else if (wait_n != 0) wait_n <= wait_n - CW'(1);
    else begin
      wait_n <= CW'(DIV - 1);
      bitn <= bitn + 4'd1;
      if (bitn == 0) busy <= !line[1];
      else if (bitn == 4'd9) begin
        busy <= 0;
        valid <= line[1];
      end else data <= {line[1], data[7:1]};
    end
  end
endmodule
