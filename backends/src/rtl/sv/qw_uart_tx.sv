// qw_uart_tx: a UART transmitter, 8 data bits, no parity, one stop bit, DIV clock cycles a
// bit; `send` with `ready` takes a byte, and the line idles high.
module qw_uart_tx #(
    parameter int DIV = 24,
    parameter int CW = 6      // bits of the bit-time counter (DIV < 2^CW)
) (
    input  logic       clk,
    input  logic       reset,
    input  logic       send,
    input  logic [7:0] data,
    output logic       ready,
    output logic       tx
);
  logic [9:0] frame;          // stop bit, data (least significant first), start bit
  logic [3:0] left;           // bits still to go out
  logic [CW-1:0] wait_n;
  assign ready = left == 0;
  assign tx = frame[0];
  always_ff @(posedge clk) begin
    if (reset) begin
      frame <= '1;
      left <= 0;
    end else if (left == 0) begin
      if (send) begin
        frame <= {1'b1, data, 1'b0};
        left <= 4'd10;
        wait_n <= CW'(DIV - 1);
      end
    end else if (wait_n != 0) wait_n <= wait_n - CW'(1);
    else begin
      wait_n <= CW'(DIV - 1);
      frame <= {1'b1, frame[9:1]};
      left <= left - 4'd1;
    end
  end
endmodule
