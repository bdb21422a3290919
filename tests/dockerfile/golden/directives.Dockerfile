#   CHECK = skip=all
#syntax=docker/dockerfile:1
# escape=`

# escape=\ is only a comment here
FROM scratch
COPY a `
  b
