# Run by Dovecot's LMTP before every delivery (dovecot.conf: sieve_before).
#
# 1. One Authentication-Results header (RFC 8601): dkimpy-milter writes dkim=, OpenDMARC
#    spf= and dmarc=, each in a header of its own with this provider's authserv-id. They
#    are joined into one, in the order spf, dkim, dmarc. Only this provider's headers
#    are left at this point: the ones a message came with were removed on entry
#    (header_checks), so every one of them is ours.
# 2. Mail that fails DMARC under p=quarantine is delivered, but marked where a POP user
#    sees it (POP has no Junk folder): a tag in the Subject and a header of its own.
require ["editheader", "variables", "regex"];

set "id" ""; set "spf" ""; set "dkim" ""; set "dmarc" "";
if header :regex "Authentication-Results" "^([^;]+);[[:space:]]*(spf=.*)$" {
  set "id" "${1}"; set "spf" "; ${2}";
}
if header :regex "Authentication-Results" "^([^;]+);[[:space:]]*(dkim=.*)$" {
  set "id" "${1}"; set "dkim" "; ${2}";
}
if header :regex "Authentication-Results" "^([^;]+);[[:space:]]*(dmarc=.*)$" {
  set "id" "${1}"; set "dmarc" "; ${2}";
}
if not string :is "${id}" "" {
  deleteheader "Authentication-Results";
  addheader "Authentication-Results" "${id}${spf}${dkim}${dmarc}";
}

if header :contains "Authentication-Results" "dmarc=fail (p=quarantine" {
  if header :matches "Subject" "*" { set "subject" "${1}"; }
  deleteheader "Subject";
  addheader :last "Subject" "[DMARC quarantine] ${subject}";
  addheader "X-Quarantine" "DMARC: the sender's domain asks receivers to treat this as suspect";
}
