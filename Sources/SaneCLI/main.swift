import Sane
print("sane \(saneVersion)")
