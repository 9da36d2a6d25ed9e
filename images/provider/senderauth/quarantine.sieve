# Mail that fails DMARC under p=quarantine is delivered, but marked where a POP user
# sees it (POP has no Junk folder): a tag in the Subject and a header of its own.
# Only this provider's own Authentication-Results remain (others are removed on entry).
require ["editheader", "variables"];
if header :contains "Authentication-Results" "dmarc=fail (p=quarantine" {
  if header :matches "Subject" "*" { set "subject" "${1}"; }
  deleteheader "Subject";
  addheader :last "Subject" "[DMARC quarantine] ${subject}";
  addheader "X-Quarantine" "DMARC: the sender's domain asks receivers to treat this as suspect";
}
