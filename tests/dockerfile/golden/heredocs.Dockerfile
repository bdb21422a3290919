FROM alpine
RUN <<EOF
echo "hello $NAME"
EOF
RUN <<-"EOT" bash
	echo quoted name: no expansion
	EOT
RUN python3 <<PY 3<<'DATA' 4<<-END
print("hi")
PY
raw $DATA
DATA
		tabbed
	END
COPY <<one.txt <<two.txt /dest/
first
one.txt
second
two.txt
COPY --chmod=644 <<EOF /etc/app.conf
key=${VALUE}
EOF
RUN ["echo", "<<NOTHEREDOC"]
ONBUILD RUN <<EOF
onbuild body
EOF
