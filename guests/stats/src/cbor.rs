//! Just enough CBOR (RFC 8949) to read one array of numbers, strictly: nothing may follow it.

pub fn numbers(input: &[u8]) -> Result<Vec<f64>, String> {
    let mut reader = Reader { input, pos: 0 };
    let (major, arg) = reader.head()?;
    if major != 4 {
        return Err("stats: CBOR input must be an array".into());
    }
    let mut out = Vec::new();
    match arg {
        Arg::Value(len) => {
            for i in 0..len {
                out.push(reader.number(i)?);
            }
        }
        Arg::Indefinite => {
            let mut i = 0;
            while reader.peek() != Some(0xff) {
                out.push(reader.number(i)?);
                i += 1;
            }
            reader.pos += 1;
        }
    }
    if reader.pos != input.len() {
        return Err(format!(
            "stats: {} bytes after the CBOR array",
            input.len() - reader.pos
        ));
    }
    Ok(out)
}

enum Arg {
    Value(u64),
    Indefinite,
}

struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let bytes = self
            .input
            .get(self.pos..self.pos + n)
            .ok_or("stats: CBOR input is truncated")?;
        self.pos += n;
        Ok(bytes)
    }

    fn uint(&mut self, n: usize) -> Result<u64, String> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
    }

    /// Major type and argument of the next item; for major type 7 the argument is the raw
    /// additional-information value (floats are read by the caller).
    fn head(&mut self) -> Result<(u8, Arg), String> {
        let initial = self.take(1)?.first().copied().unwrap_or_default();
        let (major, info) = (initial >> 5, initial & 0x1f);
        let arg = match info {
            0..=23 => Arg::Value(u64::from(info)),
            24 if major == 7 => Arg::Value(24),
            24 => Arg::Value(self.uint(1)?),
            25..=27 if major == 7 => Arg::Value(u64::from(info)),
            25 => Arg::Value(self.uint(2)?),
            26 => Arg::Value(self.uint(4)?),
            27 => Arg::Value(self.uint(8)?),
            31 if major == 4 => Arg::Indefinite,
            _ => return Err(format!("stats: unsupported CBOR head {initial:#04x}")),
        };
        Ok((major, arg))
    }

    fn number(&mut self, item: u64) -> Result<f64, String> {
        let bad = || format!("stats: item {item} is not a number");
        match self.head()? {
            (0, Arg::Value(n)) => Ok(n as f64),
            (1, Arg::Value(n)) => Ok(-1.0 - n as f64),
            (7, Arg::Value(25)) => Ok(half(self.uint(2)? as u16)),
            (7, Arg::Value(26)) => Ok(f64::from(f32::from_bits(self.uint(4)? as u32))),
            (7, Arg::Value(27)) => Ok(f64::from_bits(self.uint(8)?)),
            _ => Err(bad()),
        }
    }
}

/// IEEE 754 binary16 to f64 (RFC 8949, Appendix D).
fn half(bits: u16) -> f64 {
    let exp = (bits >> 10) & 0x1f;
    let mant = f64::from(bits & 0x3ff);
    let magnitude = match exp {
        0 => mant * 2f64.powi(-24),
        31 if mant == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (mant + 1024.0) * 2f64.powi(i32::from(exp) - 25),
    };
    if bits & 0x8000 != 0 {
        -magnitude
    } else {
        magnitude
    }
}
