"""PhoneSim: the embedded Android-like phone."""
