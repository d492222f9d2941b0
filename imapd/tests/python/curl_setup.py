c = connect()
msg = open(sys.argv[5], "rb").read()
out("append", *c.append("INBOX", None, None, msg))
c.logout()
