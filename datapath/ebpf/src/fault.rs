//! The network-fault program (`svclab-fault` object): one tc classifier,
//! attached first on the receiving side of a hop (a pod's `eth0` ingress
//! for traffic to the pod, its `lxc` ingress in the node for traffic from
//! it, a node's `fab0` ingress for a path), that drops the packets a
//! fault's filters match, by the fault's loss model. Dropping where the
//! packet is received makes the sender's TCP see a real loss (a missing
//! ACK) rather than a local `NET_XMIT_DROP`.
//!
//! The loss models are netem's (Linux v6.12 `net/sched/sch_netem.c`):
//! `get_crandom` for correlated random loss and `loss_gilb_ell` for the
//! Gilbert–Elliott model, with one `bpf_get_prandom_u32()` per draw where
//! netem takes one `prandom_u32_state()`.
//!
//! Every packet that is not dropped gets `TC_ACT_UNSPEC` (TCX_NEXT): the
//! programs after this one (the service datapath) still see it.
#![no_std]
#![no_main]

use core::mem::size_of;

use aya_ebpf::{
    bindings::TC_ACT_SHOT,
    helpers::bpf_get_prandom_u32,
    macros::{classifier, map},
    maps::{Array, PerCpuArray},
    programs::TcContext,
};
use svclab_datapath_common::{
    FAULT_MODEL_ALL, FAULT_MODEL_GE, FAULT_MODEL_RANDOM, FaultConfig, FaultCounter, FaultPrefix,
    FaultState, IPPROTO_TCP, IPPROTO_UDP,
};

/// `TC_ACT_UNSPEC`: not ours to decide, the next program (or the stack)
/// takes the packet.
const PASS: i32 = -1;
const ETH_HLEN: usize = 14;
const ETH_P_IP_BE: u16 = 0x0800u16.to_be();

#[map]
static FAULT_CONFIG: Array<FaultConfig> = Array::with_max_entries(1, 0);
#[map]
static FAULT_STATE: Array<FaultState> = Array::with_max_entries(1, 0);
#[map]
static FAULT_COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(FaultCounter::COUNT, 0);

#[classifier]
pub fn fault(ctx: TcContext) -> i32 {
    match try_fault(&ctx) {
        Ok(v) => v,
        Err(v) => v,
    }
}

fn bump(c: FaultCounter) {
    if let Some(v) = FAULT_COUNTERS.get_ptr_mut(c as u32) {
        // SAFETY: a per-CPU slot of this map; no other context writes it
        // while this program runs on this CPU.
        unsafe { *v += 1 };
    }
}

/// Reads a `T` at `off` if it lies inside the linear packet data.
#[inline(always)]
fn read<T: Copy>(ctx: &TcContext, off: usize) -> Option<T> {
    let (data, end) = (ctx.data(), ctx.data_end());
    if data + off + size_of::<T>() > end {
        return None;
    }
    // SAFETY: [data + off, data + off + size_of::<T>()) lies inside the
    // packet (checked above); unaligned because IPv4 fields sit at odd
    // offsets behind the Ethernet header.
    Some(unsafe { core::ptr::read_unaligned((data + off) as *const T) })
}

#[inline(always)]
fn in_prefix(addr: u32, p: &FaultPrefix) -> bool {
    addr & p.mask == p.addr & p.mask
}

fn try_fault(ctx: &TcContext) -> Result<i32, i32> {
    let cfg = FAULT_CONFIG.get(0).ok_or(PASS)?;
    if cfg.model == 0 {
        return Ok(PASS);
    }
    // Headers may sit beyond the linear data (GSO from a veth): pull them.
    if ctx.data_end() - ctx.data() < ETH_HLEN + 24 {
        let want = if ctx.len() < (ETH_HLEN + 24) as u32 {
            ctx.len()
        } else {
            (ETH_HLEN + 24) as u32
        };
        let _ = ctx.pull_data(want);
    }
    let eth_proto: u16 = read(ctx, 12).ok_or(PASS)?;
    if eth_proto != ETH_P_IP_BE {
        return Ok(PASS);
    }
    let vihl: u8 = read(ctx, ETH_HLEN).ok_or(PASS)?;
    let saddr: u32 = read(ctx, ETH_HLEN + 12).ok_or(PASS)?;
    let daddr: u32 = read(ctx, ETH_HLEN + 16).ok_or(PASS)?;
    if cfg.n_src > 0 {
        let hit = in_prefix(saddr, &cfg.src[0]) || (cfg.n_src > 1 && in_prefix(saddr, &cfg.src[1]));
        if !hit {
            return Ok(PASS);
        }
    }
    if !in_prefix(daddr, &cfg.dst) {
        return Ok(PASS);
    }
    let excluded = match cfg.exclude_side {
        1 => in_prefix(saddr, &cfg.exclude),
        2 => in_prefix(daddr, &cfg.exclude),
        _ => false,
    };
    if excluded {
        return Ok(PASS);
    }
    if cfg.port_side != 0 {
        let proto: u8 = read(ctx, ETH_HLEN + 9).ok_or(PASS)?;
        if proto != IPPROTO_TCP && proto != IPPROTO_UDP {
            return Ok(PASS);
        }
        let l4 = ETH_HLEN + ((vihl & 0x0f) as usize) * 4;
        let off = if cfg.port_side == 1 { l4 + 2 } else { l4 };
        let port: u16 = read(ctx, off).ok_or(PASS)?;
        if port != cfg.port {
            return Ok(PASS);
        }
    }
    bump(FaultCounter::Matched);
    if lost(cfg) {
        bump(FaultCounter::Dropped);
        return Err(TC_ACT_SHOT);
    }
    Ok(PASS)
}

/// One loss decision by the configured model.
#[inline(always)]
fn lost(cfg: &FaultConfig) -> bool {
    match cfg.model {
        FAULT_MODEL_ALL => true,
        FAULT_MODEL_RANDOM => {
            // netem: `q->loss && q->loss >= get_crandom(&q->loss_cor, ...)`
            // (sch_netem.c loss_event, CLG_RANDOM).
            cfg.loss != 0 && cfg.loss >= crandom(cfg.corr)
        }
        FAULT_MODEL_GE => gilb_ell(cfg),
        _ => false,
    }
}

/// netem's `get_crandom`: with correlation `rho`, the draw leans on the
/// previous one, `(value * (2^32 - rho') + last * rho') >> 32` with
/// `rho' = rho + 1`; without, a plain draw.
#[inline(always)]
fn crandom(rho: u32) -> u32 {
    // SAFETY: a helper without arguments.
    let value = unsafe { bpf_get_prandom_u32() } as u64;
    if rho == 0 {
        return value as u32;
    }
    let Some(state) = FAULT_STATE.get_ptr_mut(0) else {
        return value as u32;
    };
    let rho = rho as u64 + 1;
    // SAFETY: slot 0 of this map exists for the program's lifetime; a
    // racing writer on another CPU only replaces `last` by its own draw.
    let last = unsafe { (*state).last } as u64;
    let answer = ((value * ((1u64 << 32) - rho) + last * rho) >> 32) as u32;
    // SAFETY: as above.
    unsafe { (*state).last = answer };
    answer
}

/// netem's `loss_gilb_ell`: in the good state, move to bad with `p`, lose
/// with `1-k`; in the bad state, move to good with `r`, lose unless the
/// draw is at most `h`. The transition is drawn before the loss, and the
/// loss uses the state the packet arrived in.
#[inline(always)]
fn gilb_ell(cfg: &FaultConfig) -> bool {
    let Some(state) = FAULT_STATE.get_ptr_mut(0) else {
        return false;
    };
    // SAFETY: helpers without arguments; slot 0 of this map exists for the
    // program's lifetime (a racing CPU may flip the state once more).
    unsafe {
        if (*state).bad == 0 {
            if bpf_get_prandom_u32() < cfg.ge_p {
                (*state).bad = 1;
            }
            bpf_get_prandom_u32() < cfg.loss
        } else {
            if bpf_get_prandom_u32() < cfg.ge_r {
                (*state).bad = 0;
            }
            bpf_get_prandom_u32() > cfg.ge_h
        }
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
