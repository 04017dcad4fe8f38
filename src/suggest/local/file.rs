//! The model file: a header with the options and vocabulary, then each head's weights.

use super::*;

/// Everything but the big arrays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Header {
    pub(super) format: u32,
    pub(super) data_fingerprint: String,
    pub(super) options: TrainOptions,
    pub(super) dims: Vec<Dimension>,
    pub(super) vocab_len: usize,
    pub(super) heads: Vec<HeadMeta>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct HeadMeta {
    pub(super) bias: Vec<f32>,
    pub(super) calibration: Calibration,
}

impl LocalModel {
    pub(super) fn to_bytes(&self) -> Result<Vec<u8>, String> {
        let header = Header {
            format: FORMAT_VERSION,
            data_fingerprint: self.data_fingerprint.clone(),
            options: self.options.clone(),
            dims: self.dims.clone(),
            vocab_len: self.vocab.len(),
            heads: self
                .heads
                .iter()
                .map(|h| HeadMeta {
                    bias: h.linear.bias.clone(),
                    calibration: h.calibration.clone(),
                })
                .collect(),
        };
        let json = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(16 + json.len() + 8 * self.vocab.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(json.len() as u64).to_le_bytes());
        out.extend_from_slice(&json);
        out.extend(self.vocab.ids.iter().flat_map(|v| v.to_le_bytes()));
        out.extend(self.vocab.idf.iter().flat_map(|v| v.to_le_bytes()));
        for head in &self.heads {
            out.extend(head.linear.weights.iter().flat_map(|v| v.to_le_bytes()));
        }
        Ok(out)
    }

    pub(super) fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let mut reader = ByteReader { bytes, pos: 0 };
        if reader.take(MAGIC.len())? != MAGIC {
            return Err("not a sift local model (bad magic bytes)".into());
        }
        let json_len = usize::try_from(reader.u64()?).map_err(|e| e.to_string())?;
        let header: Header =
            serde_json::from_slice(reader.take(json_len)?).map_err(|e| e.to_string())?;
        if header.format != FORMAT_VERSION {
            return Err(format!("format {} is not supported", header.format));
        }
        validate(&header.dims, &header.options).map_err(|e| e.to_string())?;
        if header.heads.len() != header.dims.len() {
            return Err("head count differs from dimension count".into());
        }
        let n = header.vocab_len;
        let ids = reader.u32s(n)?;
        let idf = reader.f32s(n)?;
        let vocab = Vocab::new(ids, idf, header.options.features.hash_bits)?;
        let mut heads = Vec::with_capacity(header.heads.len());
        for (meta, dim) in header.heads.into_iter().zip(&header.dims) {
            heads.push(read_head(&mut reader, meta, dim, n)?);
        }
        if reader.pos != bytes.len() {
            return Err("trailing bytes after the weights".into());
        }
        Ok(LocalModel {
            data_fingerprint: header.data_fingerprint,
            options: header.options,
            dims: header.dims,
            vocab,
            heads,
        })
    }
}

pub(super) fn read_head(
    reader: &mut ByteReader,
    meta: HeadMeta,
    dim: &Dimension,
    n_features: usize,
) -> Result<Head, String> {
    let outputs = dim.labels.len();
    let calibrated = match &meta.calibration {
        Calibration::Temperature(t) => dim.single && *t > 0.0,
        Calibration::Platt(p) => !dim.single && p.len() == outputs,
    };
    if meta.bias.len() != outputs || !calibrated {
        return Err(format!("the model of dimension `{}` has the wrong shape", dim.name));
    }
    let count = n_features.checked_mul(outputs).ok_or("weight count overflows")?;
    let weights = reader.f32s(count)?;
    Ok(Head { linear: Linear { outputs, weights, bias: meta.bias }, calibration: meta.calibration })
}

/// Cursor over a model file's bytes.
pub(super) struct ByteReader<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> ByteReader<'a> {
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.bytes.len());
        let end = end.ok_or("file is truncated")?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    pub(super) fn u64(&mut self) -> Result<u64, String> {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(buf))
    }

    pub(super) fn words(&mut self, n: usize) -> Result<impl Iterator<Item = [u8; 4]> + 'a, String> {
        let len = n.checked_mul(4).ok_or("array length overflows")?;
        Ok(self.take(len)?.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]))
    }

    pub(super) fn u32s(&mut self, n: usize) -> Result<Vec<u32>, String> {
        Ok(self.words(n)?.map(u32::from_le_bytes).collect())
    }

    pub(super) fn f32s(&mut self, n: usize) -> Result<Vec<f32>, String> {
        Ok(self.words(n)?.map(f32::from_le_bytes).collect())
    }
}

// ---------------------------------------------------------------------------------------------
// Feature extraction
// ---------------------------------------------------------------------------------------------
