//! The board shell's top module for the ZCU102 (the `xczu9eg` serial datapath): the
//! accelerator and `qw_board` in the programmable logic alone, clocked from the board's
//! 125 MHz oscillator through an MMCM, its UART on the CP2108's channel 2, which the board
//! wires to the logic's pins (the other channels go to the processing system, which this
//! design leaves unconfigured), and the pin constraints Vivado places it with.

use super::board::{BAUD, divisor};
use qweave_hw::HwConfig;

/// The oscillator the shell runs from, in MHz (the ZCU102's 125 MHz LVDS clock, G21/F21).
pub const OSCILLATOR_MHZ: u32 = 125;

/// The pins, for Vivado: the 125 MHz oscillator's pair, the CP2108's channel 2 (the host's
/// transmit line to the logic's `rx`) and GPIO LED 0, lit while the accelerator runs.
pub const XDC: &str = "\
# qweave's board shell on the ZCU102 (xczu9eg-ffvb1156-2-e): the 125 MHz oscillator, the
# CP2108's UART channel 2 (the one wired to the programmable logic) and GPIO LED 0
set_property -dict {PACKAGE_PIN G21 IOSTANDARD LVDS_25} [get_ports clk_125mhz_p]
set_property -dict {PACKAGE_PIN F21 IOSTANDARD LVDS_25} [get_ports clk_125mhz_n]
set_property -dict {PACKAGE_PIN E13 IOSTANDARD LVCMOS33} [get_ports rx]
set_property -dict {PACKAGE_PIN F13 IOSTANDARD LVCMOS33 SLEW SLOW DRIVE 8} [get_ports tx]
set_property -dict {PACKAGE_PIN AG14 IOSTANDARD LVCMOS33 SLEW SLOW DRIVE 8} [get_ports led]
set_false_path -from [get_ports rx]
set_false_path -to [get_ports {tx led}]
";

/// The MMCME4 settings (CLKFBOUT_MULT_F, CLKOUT0_DIVIDE_F, with DIVCLK_DIVIDE 1) that make
/// `mhz` from the oscillator exactly with the VCO within UltraScale+'s 800-1600 MHz, the
/// lowest VCO first; `None` if integer settings cannot.
pub fn mmcm(mhz: u32) -> Option<(u32, u32)> {
    (7..=12).find_map(|mult| {
        let vco = OSCILLATOR_MHZ * mult;
        ((800..=1600).contains(&vco) && mhz > 0 && vco.is_multiple_of(mhz) && vco / mhz <= 128)
            .then_some((mult, vco / mhz))
    })
}

/// The `board` top module for `hw` on the ZCU102: under SYNTHESIS the oscillator's pair
/// into an IBUFDS, an MMCME4_BASE to the configuration's clock and a BUFG; in simulation the
/// design runs from the pair's positive pin.
pub fn top(hw: &HwConfig) -> Result<String, String> {
    let div = divisor(hw)?;
    let (mult, out) = mmcm(hw.clock_mhz).ok_or_else(|| {
        format!(
            "the ZCU102's MMCM cannot make {} MHz from its {OSCILLATOR_MHZ} MHz oscillator \
             exactly; choose a clock that divides 875 to 1500 MHz in steps of 125",
            hw.clock_mhz
        )
    })?;
    Ok(format!(
        "// board: the top module for the ZCU102 (pins: vivado/pins.xdc): the accelerator at {mhz} \
         MHz behind the board shell, its UART at {BAUD} baud.\n\
         module board (\n\
         \x20   input  logic clk_125mhz_p,\n\
         \x20   input  logic clk_125mhz_n,\n\
         \x20   input  logic rx,\n\
         \x20   output logic tx,\n\
         \x20   output logic led\n\
         );\n\
         \x20 logic clk, locked, led_n;\n\
         `ifdef SYNTHESIS\n\
         \x20 logic clk_in, clk_out, feedback;\n\
         \x20 IBUFDS oscillator (.I(clk_125mhz_p), .IB(clk_125mhz_n), .O(clk_in));\n\
         \x20 MMCME4_BASE #(.CLKIN1_PERIOD(8.0), .DIVCLK_DIVIDE(1), .CLKFBOUT_MULT_F({mult}.0),\n\
         \x20               .CLKOUT0_DIVIDE_F({out}.0)) mmcm (\n\
         \x20     .CLKIN1(clk_in), .CLKFBIN(feedback), .CLKFBOUT(feedback), .CLKOUT0(clk_out),\n\
         \x20     .LOCKED(locked), .RST(1'b0), .PWRDWN(1'b0));\n\
         \x20 BUFG global (.I(clk_out), .O(clk));\n\
         `else\n\
         \x20 // (simulation: the oscillator's edges are the MMCM's)\n\
         \x20 assign clk = clk_125mhz_p;\n\
         \x20 assign locked = 1;\n\
         \x20 /* verilator lint_off UNUSEDSIGNAL */\n\
         \x20 wire unused_n = clk_125mhz_n;\n\
         \x20 /* verilator lint_on UNUSEDSIGNAL */\n\
         `endif\n\
         \x20 qw_board #(.DIV({div}), .CW(6)) shell (.clk, .hold(!locked), .rx, .tx, .led_n);\n\
         \x20 assign led = !led_n;\n\
         endmodule\n",
        mhz = hw.clock_mhz
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mmcm_makes_the_serial_presets_clock() {
        // 125 MHz x 8 = 1000 MHz, / 20
        assert_eq!(mmcm(50), Some((8, 20)));
        assert_eq!(mmcm(100), Some((8, 10)));
        assert_eq!(mmcm(125), Some((7, 7)));
        assert_eq!(mmcm(7), Some((7, 125)));
        assert_eq!(mmcm(3), None);
        let hw = qweave_hw::Target::Xczu9eg.serial_preset().unwrap();
        let sv = top(&hw).unwrap();
        assert!(sv.contains(".CLKFBOUT_MULT_F(8.0)") && sv.contains(".CLKOUT0_DIVIDE_F(20.0)"));
        assert!(sv.contains("qw_board #(.DIV(50), .CW(6))"));
        // every port of the top module has its pin
        for port in ["clk_125mhz_p", "clk_125mhz_n", "rx", "tx", "led"] {
            assert!(
                sv.contains(&format!("logic {port},")) || sv.contains(&format!("logic {port}\n"))
            );
            assert!(XDC.contains(&format!("[get_ports {port}]")), "{port}");
        }
    }
}
