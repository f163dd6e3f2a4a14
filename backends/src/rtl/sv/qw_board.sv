// qw_board: the board shell around the serial accelerator (`main`) on an iCE40 UP5K board
// such as the iCEBreaker: its DRAM and its program share the 128 KiB of qw_spram, and a host
// loads both, runs the program and reads results back over a UART (docs/hw.md, "The board
// shell"). Commands (every number little-endian; addresses and lengths in 32-bit words):
//   'W' addr[3] n[3] data[4n]   write n words from addr; replies 'K' once written
//   'R' addr[3] n[3]            replies with the n words from addr
//   'G' base[3]                 runs the program at word `base` (DRAM is word 0 on), from a
//                               reset; replies 'D' and the run's cycles[4] at `end`
// Another byte in place of a command gets '?'. The host waits for each reply before sending
// the next command. The accelerator's memory requests come one kind at a time (it fetches only
// between instructions), and a write whose mask does not cover whole nibbles (the SPRAM's
// write granule) is held back a cycle (m_wready) while the word is read, then merged into it.
// A written byte goes to memory as it arrives (under its two nibbles' enables), a reply's
// bytes are picked from where they are (the word read, the cycle count), so the shell holds
// no word of its own.
module qw_board #(
    parameter int DIV = 24,   // clock cycles per UART bit
    parameter int CW = 6      // bits of the bit-time counters (DIV < 2^CW)
) (
    input  logic clk,
    input  logic hold,        // reset (while the clock is not yet locked)
    input  logic rx,
    output logic tx,
    output logic led_n        // lit while the accelerator runs
);
  // ---- reset: 8 cycles from power-up and while held ----
  logic [3:0] por;
  initial por = 0;
  always_ff @(posedge clk) por <= hold ? 4'd0 : por[3] ? por : por + 4'd1;
  wire reset = !por[3];

  // ---- the UART ----
  logic rx_valid, tx_ready;
  logic [7:0] rx_data, tx_data;
  logic [2:0] out_n;          // bytes of the reply still to send
  logic [2:0] out_at;         // the next one's index
  qw_uart_rx #(.DIV(DIV), .CW(CW)) urx (.clk, .reset, .rx, .valid(rx_valid), .data(rx_data));
  wire tx_send = out_n != 0;
  qw_uart_tx #(.DIV(DIV), .CW(CW)) utx (
      .clk, .reset, .send(tx_send), .data(tx_data), .ready(tx_ready), .tx);

  // ---- the accelerator ----
  logic m_reset, m_go, m_done;
  logic i_req, i_valid, m_rreq, m_rvalid, m_wreq, m_wready, m_wack;
  /* verilator lint_off UNUSEDSIGNAL */
  logic [31:0] i_addr, m_raddr, m_waddr;
  logic [2:0] t_go, t_done;
  /* verilator lint_on UNUSEDSIGNAL */
  logic [31:0] m_wdata, m_wmask, rd;
  main accel (
      .clk, .reset(m_reset), .go(m_go), .done(m_done), .i_req, .i_addr, .i_valid, .i_data(rd),
      .m_rreq, .m_raddr, .m_rvalid, .m_rdata(rd), .m_wreq, .m_waddr, .m_wdata, .m_wmask,
      .m_wready, .m_wack, .t_go, .t_done);

  // ---- the command sequencer ----
  localparam logic [2:0] CMD = 0, HDR = 1, DATA = 2, READ = 3, SEND = 4, START = 5, RUN = 6,
                         REPLY = 7;
  logic [2:0] state;
  logic [7:0] cmd;
  logic [2:0] hdr_n;          // header bytes still to come
  logic [47:8] hdr;           // the header's bytes so far, arriving on top
  logic [1:0] byte_n;         // the byte of the word being written
  logic [14:0] addr, last, base;
  logic [31:0] cycles;
  wire running = state == RUN;
  assign led_n = !running;
  assign m_go = running;
  // the reply's next byte: 'K', '?', 'D' and the cycle count, or the word read
  wire [1:0] cycles_byte = out_at[1:0] - 2'd1;
  always_comb begin
    tx_data = cmd == "W" ? "K" : "?";
    if (cmd == "R") tx_data = rd[8*out_at[1:0] +: 8];
    if (cmd == "G") tx_data = out_at == 0 ? "D" : cycles[8*cycles_byte +: 8];
  end

  // ---- the memory: the accelerator's requests while it runs, else the sequencer's ----
  logic rmw;                  // the held write's word was read last cycle: merge it now
  logic [7:0] whole, any;     // nibbles the mask covers wholly, partly
  always_comb
    for (int k = 0; k < 8; k++) begin
      whole[k] = &m_wmask[4*k +: 4];
      any[k] = |m_wmask[4*k +: 4];
    end
  wire partial = whole != any;
  wire w_hold = running && m_wreq && partial && !rmw;
  assign m_wready = !w_hold;
  logic en, we;
  logic [14:0] ma;
  logic [31:0] wd;
  logic [7:0] nibbles;
  always_comb begin
    en = 0;
    we = 0;
    ma = addr;
    wd = {4{rx_data}};
    nibbles = 8'b11 << {byte_n, 1'b0};
    if (running && m_wreq) begin
      en = 1;
      we = !w_hold;
      ma = m_waddr[14:0];
      wd = rmw ? (rd & ~m_wmask) | (m_wdata & m_wmask) : m_wdata;
      nibbles = rmw ? '1 : any;
    end else if (running && m_rreq) begin
      en = 1;
      ma = m_raddr[14:0];
    end else if (running && i_req) begin
      en = 1;
      ma = base + i_addr[14:0];
    end else if (state == DATA && rx_valid) begin
      en = 1;
      we = 1;
    end else if (state == READ) en = 1;
  end
  qw_spram memory (.clk, .en, .we, .addr(ma), .wd, .nibbles, .rd);
  always_ff @(posedge clk) begin
    rmw <= w_hold;
    m_wack <= running && m_wreq && !w_hold;
    m_rvalid <= running && !m_wreq && m_rreq;
    i_valid <= running && !m_wreq && !m_rreq && i_req;
  end

  always_ff @(posedge clk) begin
    m_reset <= reset;
    if (tx_send && tx_ready) begin
      out_at <= out_at + 3'd1;
      out_n <= out_n - 3'd1;
    end
    if (reset) begin
      state <= CMD;
      out_n <= 0;
    end else case (state)
      CMD: if (rx_valid) begin
        cmd <= rx_data;
        state <= HDR;
        hdr_n <= rx_data == "G" ? 3'd3 : 3'd6;
        if (rx_data != "W" && rx_data != "R" && rx_data != "G") begin
          cmd <= "?";
          out_n <= 1;
          state <= REPLY;
        end
      end
      HDR: if (rx_valid) begin
        hdr <= {rx_data, hdr[47:16]};
        hdr_n <= hdr_n - 3'd1;
        if (hdr_n == 3'd1) begin
          // the whole header is {rx_data, hdr[47:8]}: addr and n, or a 'G''s base on top;
          // `last` is the last word (n is at most 2^15 words)
          addr <= hdr[22:8];
          last <= hdr[22:8] + hdr[46:32] - 15'd1;
          base <= hdr[46:32];
          byte_n <= 0;
          out_at <= 0;
          state <= cmd == "W" ? DATA : cmd == "R" ? READ : START;
          if (cmd != "G" && {rx_data, hdr[47:32]} == 0) begin
            // nothing to move: a write is acknowledged at once
            out_n <= {2'd0, cmd == "W"};
            state <= REPLY;
          end
        end
      end
      DATA: if (rx_valid) begin
        byte_n <= byte_n + 2'd1;
        if (byte_n == 2'd3) begin
          addr <= addr + 15'd1;
          if (addr == last) begin
            out_n <= 1;
            state <= REPLY;
          end
        end
      end
      READ: begin
        // the word is read: send it
        out_n <= 3'd4;
        out_at <= 0;
        state <= SEND;
      end
      SEND: if (out_n == 0) begin
        addr <= addr + 15'd1;
        state <= addr == last ? CMD : READ;
      end
      START: begin
        // the accelerator from a reset
        m_reset <= 1;
        cycles <= 0;
        state <= RUN;
      end
      RUN: begin
        cycles <= cycles + 32'd1;
        if (m_done) begin
          out_n <= 3'd5;
          state <= REPLY;
        end
      end
      default: if (out_n == 0) state <= CMD;   // REPLY: the reply is sent
    endcase
  end
endmodule
