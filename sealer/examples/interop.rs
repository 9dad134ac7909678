//! Drives the `sealer` library from `tests/interop/sealed.py`, which checks it against an
//! independent implementation (pyhpke + cryptography) written from `docs/formats.md`.
//!
//! ```text
//! interop public-key  SECRET POLICY DEBUG
//! interop open-input  SECRET MEASUREMENT SIGNER PRODUCT SVN DEBUG PLATFORM SEALED PLAIN RESPONSE OUT
//! interop seal        PUBLIC POLICY DEBUG EVIDENCE PLATFORM PLAIN SEALED CONTEXT
//! interop open-output CONTEXT SEALED PLAIN
//! ```
//! Hex for keys and digests; POLICY is `measurement:HEX` or `signer:HEX:PRODUCT:SVN`; DEBUG is
//! 0 or 1. `open-input` opens SEALED into PLAIN, then seals the file RESPONSE back into OUT, and
//! prints the sealed input digest.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read as _, Write as _};

use anyhow::{bail, Context as _, Result};
use attest::{EnclavePublicKey, Measurement, PlatformId, ProductId, SignerId, Svn};
use sealer::{
    open_output, seal, ClientContext, EnclaveIdentity, EvidenceDigest, KeyPolicy, PlatformSecret,
    SealTarget, SealedInputHeader,
};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["public-key", secret, policy, debug] => {
            let pair = sealer::EnclaveKeyPair::derive(
                &platform_secret(secret)?,
                &parse_policy(policy)?,
                parse_debug(debug)?,
            );
            println!("{}", pair.public());
        }
        ["open-input", secret, measurement, signer, product, svn, debug, platform, sealed, plain, response, out] =>
        {
            let identity = EnclaveIdentity {
                measurement: Measurement::from_hex(measurement)?,
                signer: SignerId::from_hex(signer)?,
                product_id: ProductId(product.parse()?),
                svn: Svn(svn.parse()?),
                debug: parse_debug(debug)?,
            };
            let platform = PlatformId::from_hex(platform)?;
            let secret = platform_secret(secret)?;
            let mut reader = BufReader::new(File::open(sealed)?);
            let header = SealedInputHeader::read(&mut reader)?;
            header.check_binding(&identity, &platform)?;
            let keypair = identity.keypair(&secret, header.policy())?;
            let (mut opened, responder) = header.open(&keypair, reader)?;
            let mut plaintext = Vec::new();
            opened.read_to_end(&mut plaintext)?;
            let digest = opened.finish()?;
            std::fs::write(plain, plaintext)?;
            let mut writer = responder.writer(BufWriter::new(File::create(out)?))?;
            writer.write_all(&std::fs::read(response)?)?;
            writer.finish()?;
            println!("{digest}");
        }
        ["seal", public, policy, debug, evidence, platform, plain, sealed, context] => {
            let target = SealTarget {
                public_key: EnclavePublicKey::from_hex(public)?,
                policy: parse_policy(policy)?,
                debug: parse_debug(debug)?,
                evidence_digest: EvidenceDigest::from_bytes(hex32(evidence)?),
                platform_id: PlatformId::from_hex(platform)?,
            };
            let plaintext = std::fs::read(plain)?;
            let mut out = BufWriter::new(File::create(sealed)?);
            let ctx = seal(
                &target,
                plaintext.as_slice(),
                plaintext.len() as u64,
                &mut out,
            )?;
            out.flush()?;
            std::fs::write(context, ctx.to_bytes())?;
        }
        ["open-output", context, sealed, plain] => {
            let ctx = ClientContext::from_bytes(&std::fs::read(context)?)?;
            let mut out = Vec::new();
            open_output(&ctx, BufReader::new(File::open(sealed)?), &mut out)?;
            std::fs::write(plain, out)?;
        }
        _ => bail!("usage: see the comment at the top of sealer/examples/interop.rs"),
    }
    Ok(())
}

fn hex32(text: &str) -> Result<[u8; 32]> {
    let bytes = hex::decode(text)?;
    bytes.try_into().ok().context("expected 32 bytes of hex")
}

fn platform_secret(text: &str) -> Result<PlatformSecret> {
    Ok(PlatformSecret::from_bytes(hex32(text)?))
}

fn parse_debug(text: &str) -> Result<bool> {
    match text {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => bail!("debug must be 0 or 1"),
    }
}

fn parse_policy(text: &str) -> Result<KeyPolicy> {
    match text.split(':').collect::<Vec<_>>().as_slice() {
        ["measurement", m] => Ok(KeyPolicy::Measurement(Measurement::from_hex(m)?)),
        ["signer", s, product, svn] => Ok(KeyPolicy::Signer {
            signer: SignerId::from_hex(s)?,
            product_id: ProductId(product.parse()?),
            svn: Svn(svn.parse()?),
        }),
        _ => bail!("policy must be measurement:HEX or signer:HEX:PRODUCT:SVN"),
    }
}
