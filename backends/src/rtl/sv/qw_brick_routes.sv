// qw_brick_routes: the routing of a bricks PE's sixteen 2-bit bricks in a mode with `dw`
// weight digits and `da` activation digits (ceil of the widths over 2): brick b serves
// product b / (dw da), weight digit (b mod dw da) / da and activation digit (b mod dw da) mod
// da, and is used while its product is one of the 16 / (dw da) the PE computes. One per array,
// shared by every PE.
module qw_brick_routes (
    input  logic [2:0]  dw,
    input  logic [2:0]  da,
    output logic [3:0]  route_q [16],
    output logic [1:0]  route_i [16],
    output logic [1:0]  route_j [16],
    output logic [15:0] route_on
);
  always_comb begin
    logic [4:0] per, q, r;
    per = 5'(dw) * 5'(da);
    for (int b = 0; b < 16; b++) begin
      q = per == 0 ? 5'd0 : 5'(b) / per;
      r = per == 0 ? 5'd0 : 5'(b) % per;
      route_q[b] = q[3:0];
      route_i[b] = da == 0 ? 2'd0 : 2'(r / 5'(da));
      route_j[b] = da == 0 ? 2'd0 : 2'(r % 5'(da));
      route_on[b] = per != 0 && (6'(q) + 6'd1) * 6'(per) <= 6'd16;
    end
  end
endmodule
