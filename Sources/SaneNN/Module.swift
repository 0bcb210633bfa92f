public enum SaneNNPlaceholder {}
