//! A console form as posted: `application/x-www-form-urlencoded`, or `multipart/form-data` when it
//! uploads files (certificates). The body was read within the admin listener's size and time
//! limits before it gets here; this bounds how many fields and files it may hold.

use bytes::Bytes;

/// Most fields and files a form may post.
const MAX_PARTS: usize = 256;

/// A file of a multipart form.
#[derive(Debug, Clone)]
pub struct Upload {
    pub field: String,
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// The fields of a posted form, in order, and its files.
#[derive(Debug, Clone, Default)]
pub struct Form {
    fields: Vec<(String, String)>,
    files: Vec<Upload>,
}

#[derive(Debug, thiserror::Error)]
pub enum FormError {
    #[error("the form is not form data ({0})")]
    ContentType(String),
    #[error("the form cannot be read: {0}")]
    Malformed(String),
    #[error("the form has more than {MAX_PARTS} fields")]
    TooManyParts,
}

impl Form {
    /// Parses `body` by its `content_type`.
    pub async fn parse(content_type: Option<&str>, body: Bytes) -> Result<Form, FormError> {
        let content_type = content_type.unwrap_or("application/x-www-form-urlencoded");
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/x-www-form-urlencoded" => {
                let fields: Vec<(String, String)> = form_urlencoded::parse(&body)
                    .take(MAX_PARTS + 1)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                if fields.len() > MAX_PARTS {
                    return Err(FormError::TooManyParts);
                }
                Ok(Form {
                    fields,
                    files: Vec::new(),
                })
            }
            "multipart/form-data" => parse_multipart(content_type, body).await,
            _ => Err(FormError::ContentType(
                content_type.escape_default().to_string(),
            )),
        }
    }

    /// The first value of `name`, trimmed; none when absent or blank.
    pub fn text(&self, name: &str) -> Option<String> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The first value of `name` exactly as posted (a password), empty when absent.
    pub fn raw(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `name` (checkboxes of one name), each split on white space: a textarea
    /// holds one item per line or several separated by spaces.
    pub fn list(&self, name: &str) -> Vec<String> {
        let mut items: Vec<String> = Vec::new();
        for (_, value) in self.fields.iter().filter(|(n, _)| n == name) {
            for item in value.split_whitespace() {
                if !items.iter().any(|i| i == item) {
                    items.push(item.to_owned());
                }
            }
        }
        items
    }

    /// The non-blank lines of `name` (claim mappings, PEM blocks are read whole instead).
    pub fn lines(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.lines())
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Whether the checkbox `name` was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.fields.iter().any(|(n, _)| n == name)
    }

    /// The files uploaded under `name` (a file input left empty posts none).
    pub fn files(&self, name: &str) -> Vec<&Upload> {
        self.files.iter().filter(|f| f.field == name).collect()
    }

    /// The fields as the form showed them, to fill it again after a refusal: passwords and the
    /// CSRF token left out.
    pub fn refill(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut values = serde_json::Map::new();
        for (name, value) in &self.fields {
            if name.contains("password") || name == "csrf_token" {
                continue;
            }
            match values.get_mut(name) {
                Some(serde_json::Value::Array(all)) => all.push(value.clone().into()),
                Some(first) => *first = serde_json::json!([first.clone(), value]),
                None => {
                    values.insert(name.clone(), value.clone().into());
                }
            }
        }
        values
    }
}

async fn parse_multipart(content_type: &str, body: Bytes) -> Result<Form, FormError> {
    let boundary =
        multer::parse_boundary(content_type).map_err(|e| FormError::Malformed(e.to_string()))?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut form = Form::default();
    let malformed = |e: multer::Error| FormError::Malformed(e.to_string());
    while let Some(field) = multipart.next_field().await.map_err(malformed)? {
        if form.fields.len() + form.files.len() >= MAX_PARTS {
            return Err(FormError::TooManyParts);
        }
        let name = field.name().unwrap_or_default().to_owned();
        match field.file_name().map(str::to_owned) {
            Some(file_name) => {
                let bytes = field.bytes().await.map_err(malformed)?;
                // A file input left empty posts a part with no name and no bytes.
                if !(file_name.is_empty() && bytes.is_empty()) {
                    form.files.push(Upload {
                        field: name,
                        file_name,
                        bytes: bytes.to_vec(),
                    });
                }
            }
            None => {
                let text = field.text().await.map_err(malformed)?;
                form.fields.push((name, text));
            }
        }
    }
    Ok(form)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn url_encoded_fields_are_read_trimmed_and_listed() {
        let form = Form::parse(
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            Bytes::from_static(
                b"name=+Corp+&grant_types=a&grant_types=b+a&password=+x+&empty=&csrf_token=t",
            ),
        )
        .await
        .unwrap();
        assert_eq!(form.text("name").as_deref(), Some("Corp"));
        assert_eq!(form.text("empty"), None);
        assert_eq!(form.list("grant_types"), ["a", "b"]);
        assert_eq!(form.raw("password"), " x ");
        assert!(form.checked("empty") && !form.checked("missing"));
        let refill = form.refill();
        assert!(!refill.contains_key("password") && !refill.contains_key("csrf_token"));
        assert_eq!(refill["grant_types"], serde_json::json!(["a", "b a"]));
    }

    #[tokio::test]
    async fn multipart_forms_carry_files_and_fields() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\ncorp\r\n\
            --XyZ\r\nContent-Disposition: form-data; name=\"certificate_files\"; filename=\"idp.crt\"\r\n\
            Content-Type: application/octet-stream\r\n\r\n\x01\x02DER\r\n\
            --XyZ\r\nContent-Disposition: form-data; name=\"certificate_files\"; filename=\"\"\r\n\
            Content-Type: application/octet-stream\r\n\r\n\r\n--XyZ--\r\n";
        let form = Form::parse(
            Some("multipart/form-data; boundary=XyZ"),
            Bytes::from(body.as_bytes().to_vec()),
        )
        .await
        .unwrap();
        assert_eq!(form.text("name").as_deref(), Some("corp"));
        let files = form.files("certificate_files");
        assert_eq!(files.len(), 1, "the empty file input posts no file");
        assert_eq!(files[0].file_name, "idp.crt");
        assert_eq!(files[0].bytes, b"\x01\x02DER");
    }

    #[tokio::test]
    async fn other_bodies_are_refused() {
        assert!(matches!(
            Form::parse(Some("application/json"), Bytes::from_static(b"{}")).await,
            Err(FormError::ContentType(_))
        ));
        assert!(matches!(
            Form::parse(
                Some("multipart/form-data; boundary=a"),
                Bytes::from_static(b"garbage")
            )
            .await,
            Err(FormError::Malformed(_))
        ));
        let many = "a=1&".repeat(MAX_PARTS + 1);
        assert!(matches!(
            Form::parse(None, Bytes::from(many)).await,
            Err(FormError::TooManyParts)
        ));
    }
}
