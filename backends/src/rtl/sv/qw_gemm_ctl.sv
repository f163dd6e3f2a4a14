// qw_gemm_ctl: the sequencing of a `gemm` on an array (qw_gemm, qw_gemm_dsp). It latches the
// instruction on `go`, gives the array one `setup` cycle to set its step counters (and says
// whether there is anything to compute: `empty`), raises `issuing` while the array steps
// until its `last` step, waits for the pipeline's DEPTH stages and the sorter's write-back to
// drain, and then raises `done` for one cycle.
module qw_gemm_ctl #(
    parameter int DEPTH = 4
) (
    input  logic         clk,
    input  logic         reset,
    input  logic         go,
    input  logic [511:0] insn,
    output logic         done,
    output logic [511:0] I,        // the instruction, latched
    output logic         setup,    // the cycle after `go`: the array sets its counters
    input  logic         empty,    // (during setup) the gemm has no step
    output logic         issuing,  // the array steps this cycle
    input  logic         last      // (while issuing) this is the last step
);
  logic busy;
  logic [3:0] drain;
  always_ff @(posedge clk) begin
    done <= 0;
    if (reset) begin
      busy <= 0;
      issuing <= 0;
      setup <= 0;
    end else if (!busy) begin
      if (go && !done) begin
        I <= insn;
        busy <= 1;
        setup <= 1;
        issuing <= 0;
      end
    end else if (setup) begin
      setup <= 0;
      issuing <= !empty;
      drain <= 4'(DEPTH + 1);
    end else if (issuing) begin
      if (last) issuing <= 0;
    end else begin
      drain <= drain - 1;
      if (drain == 1) begin
        busy <= 0;
        done <= 1;
      end
    end
  end
endmodule
